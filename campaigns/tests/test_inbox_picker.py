"""The inbox composer's template picker: approved templates of the conversation's number, the
variables filled from the contact and editable, sent through inbox.services.message_send_template."""

from __future__ import annotations

import pytest
from django.db import connection
from django.utils import timezone

from campaigns.models import MessageTemplate, TemplateOrigin, TemplateStatus
from campaigns.tests.conftest import WABA


@pytest.fixture
def conversation(cloud_channel, contact):
    from inbox.models import Conversation

    # the customer wrote three days ago: the 24-hour window is closed
    return Conversation.objects.create(
        channel=cloud_channel, contact=contact, last_inbound_at=timezone.now() - timezone.timedelta(days=3)
    )


@pytest.fixture
def template(cloud_channel):
    return MessageTemplate.objects.create(
        origin=TemplateOrigin.META,
        channel=cloud_channel,
        waba_id=WABA,
        name="retomar_conversa",
        language="pt_BR",
        status=TemplateStatus.APPROVED,
        components=[{"type": "BODY", "text": "Olá {{1}}, podemos continuar seu atendimento em {{2}}?"}],
        variables={
            "1": {"source": "contact.first_name", "fallback": "cliente"},
            "2": {"source": "field.bairro", "fallback": "nossa loja"},
        },
    )


@pytest.fixture
def agent_client(tenant_client_factory, acme, make_member):
    return tenant_client_factory(acme, make_member("agent", email="agente@acme.test"))


def test_the_closed_window_composer_offers_the_template_picker(agent_client, conversation, template):
    html = agent_client.get(f"/inbox/c/{conversation.pk}/").content.decode()
    assert 'data-testid="open-template-picker"' in html
    assert "No message template can be sent from here yet" not in html


def test_picker_fills_variables_from_the_contact_and_sends_the_template(agent_client, conversation, template, graph):
    from inbox.models import Message

    url = f"/inbox/c/{conversation.pk}/templates/"
    listing = agent_client.get(url).content.decode()
    assert "retomar_conversa" in listing

    chosen = agent_client.get(f"{url}?template={template.pk}").content.decode()
    assert 'value="Maria"' in chosen and 'value="nossa loja"' in chosen  # the fallback for the empty field
    assert "Olá Maria, podemos continuar seu atendimento em nossa loja?" in chosen

    response = agent_client.post(
        url,
        {"template": template.pk, "value_1": "Maria", "value_2": "Boa Viagem", "send": "1", "idempotency_key": "x1"},
    )

    assert response.status_code == 200 and 'data-testid="template-sent"' in response.content.decode()
    message = Message.objects.get(conversation=conversation)
    assert message.kind == "template" and message.body == "Olá Maria, podemos continuar seu atendimento em Boa Viagem?"
    assert message.payload["template"] == {
        "name": "retomar_conversa",
        "language": "pt_BR",
        "components": [
            {"type": "body", "parameters": [{"type": "text", "text": "Maria"}, {"type": "text", "text": "Boa Viagem"}]}
        ],
    }
    # a double click sends once
    agent_client.post(
        url,
        {"template": template.pk, "value_1": "Maria", "value_2": "Boa Viagem", "send": "1", "idempotency_key": "x1"},
    )
    assert Message.objects.filter(conversation=conversation).count() == 1


def test_picker_lists_only_approved_templates_of_the_numbers_account(agent_client, conversation, template):
    MessageTemplate.objects.create(
        origin=TemplateOrigin.META, waba_id=WABA, name="em_revisao", status=TemplateStatus.PENDING
    )
    MessageTemplate.objects.create(
        origin=TemplateOrigin.META, waba_id="999", name="outra_conta", status=TemplateStatus.APPROVED
    )
    MessageTemplate.objects.create(origin=TemplateOrigin.LOCAL, name="local_sms", status=TemplateStatus.APPROVED)
    html = agent_client.get(f"/inbox/c/{conversation.pk}/templates/").content.decode()
    assert "retomar_conversa" in html
    assert "em_revisao" not in html and "outra_conta" not in html and "local_sms" not in html


def test_viewers_cannot_send_and_other_companies_are_404(
    tenant_client_factory, acme, make_member, conversation, template, other_company
):
    viewer = tenant_client_factory(acme, make_member("viewer", email="v@acme.test"))
    assert (
        viewer.post(f"/inbox/c/{conversation.pk}/templates/", {"template": template.pk, "send": "1"}).status_code == 403
    )
    stranger = tenant_client_factory(other_company, make_member("owner", company=other_company))
    connection.set_tenant(other_company)
    assert stranger.get(f"/inbox/c/{conversation.pk}/templates/").status_code == 404
