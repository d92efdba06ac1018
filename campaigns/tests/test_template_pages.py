"""Template pages: the catalogue, the builder (Meta's rules while typing, the phone preview for a
contact with fallbacks, the SMS counter), saving and submitting, the template page, roles and
tenant isolation."""

from __future__ import annotations

import re

import pytest
from django.db import connection

from campaigns import message_templates as mt
from campaigns.models import MessageTemplate, TemplateOrigin, TemplateStatus
from campaigns.tests.conftest import WABA


@pytest.fixture
def admin_client(tenant_client_factory, acme, make_member):
    return tenant_client_factory(acme, make_member("admin", email="admin@acme.test"))


@pytest.fixture
def viewer_client(tenant_client_factory, acme, make_member):
    return tenant_client_factory(acme, make_member("viewer", email="viewer@acme.test"))


def _local(channel, name="lembrete", body="Olá {{1}}, sua consulta em {{2}} é amanhã às 9h.", variables=None):
    return mt.template_save(
        origin=TemplateOrigin.LOCAL,
        name=name,
        language="pt_BR",
        category="UTILITY",
        parameter_format="POSITIONAL",
        components=[{"type": "BODY", "text": body}],
        variables=variables
        or {
            "1": {"source": "contact.first_name", "fallback": "cliente"},
            "2": {"source": "field.cidade", "fallback": "nossa clínica"},
        },
        channel=channel,
    )


def _builder_post(channel, **fields):
    data = {
        "channel": str(channel.pk),
        "name": "consulta_amanha",
        "language": "pt_BR",
        "category": "UTILITY",
        "body": "Olá {{1}}, sua consulta em {{2}} é amanhã às 9h.",
        "var_keys": "1,2",
        "var_source_1": "contact.first_name",
        "var_fallback_1": "cliente",
        "var_source_2": "field.cidade",
        "var_fallback_2": "nossa clínica",
        "var_example_1": "Ana",
        "var_example_2": "Recife",
    }
    data.update(fields)
    return data


def test_catalogue_lists_templates_with_status_and_hides_other_companies(
    admin_client, sandbox_channel, other_company, acme
):
    _local(sandbox_channel)
    connection.set_tenant(other_company)
    MessageTemplate.objects.create(name="segredo_da_outra", status=TemplateStatus.APPROVED)
    connection.set_tenant(acme)

    response = admin_client.get("/templates/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "lembrete" in html and "Approved" in html
    assert "segredo_da_outra" not in html


def test_the_template_page_of_another_company_is_404(admin_client, other_company, acme):
    connection.set_tenant(other_company)
    theirs = MessageTemplate.objects.create(name="da_outra", status=TemplateStatus.APPROVED)
    connection.set_tenant(acme)
    assert admin_client.get(f"/templates/{theirs.pk}/").status_code == 404
    assert admin_client.get(f"/templates/{theirs.pk}/row/").content == b""
    assert admin_client.post(f"/templates/{theirs.pk}/delete/").status_code == 404
    connection.set_tenant(other_company)
    assert MessageTemplate.objects.filter(pk=theirs.pk).exists()


def test_viewers_read_but_do_not_manage(viewer_client, sandbox_channel):
    template = _local(sandbox_channel)
    assert viewer_client.get("/templates/").status_code == 200
    assert viewer_client.get(f"/templates/{template.pk}/").status_code == 200
    assert viewer_client.get("/templates/new/").status_code == 403
    assert viewer_client.post("/templates/new/", _builder_post(sandbox_channel)).status_code == 403
    assert viewer_client.post(f"/templates/{template.pk}/delete/").status_code == 403
    assert MessageTemplate.objects.filter(pk=template.pk).exists()


def test_builder_saves_a_local_template_ready_to_use(admin_client, sandbox_channel):
    assert admin_client.get(f"/templates/new/?channel={sandbox_channel.pk}").status_code == 200

    response = admin_client.post("/templates/new/", _builder_post(sandbox_channel, action="save"))

    assert response.status_code == 302
    template = MessageTemplate.objects.get(name="consulta_amanha")
    assert template.origin == TemplateOrigin.LOCAL and template.status == TemplateStatus.APPROVED
    assert template.components == [{"type": "BODY", "text": "Olá {{1}}, sua consulta em {{2}} é amanhã às 9h."}]
    assert template.variables["2"] == {"source": "field.cidade", "fallback": "nossa clínica"}


def test_builder_refuses_what_meta_would_reject_and_saves_nothing(admin_client, cloud_channel, graph):
    post = _builder_post(cloud_channel, body="{{1}}, sua consulta em {{2}} é amanhã", action="submit", name="Consulta")

    response = admin_client.post("/templates/new/", post)

    assert response.status_code == 400
    html = response.content.decode()
    assert "lowercase letters, numbers and underscores" in html
    assert "at the very start or end" in html
    assert not MessageTemplate.objects.exists()
    assert graph.requests == []


def test_builder_submits_a_cloud_template_with_its_examples(admin_client, cloud_channel, graph):
    post = _builder_post(
        cloud_channel,
        action="submit",
        category="MARKETING",
        header_format="TEXT",
        header_text="Lembrete da clínica",
        footer="Responda SAIR para não receber",
        button_type_0="QUICK_REPLY",
        button_text_0="Confirmar",
        button_type_1="URL",
        button_text_1="Remarcar",
        button_url_1="https://clinica.com.br/remarcar/{{1}}",
        **{"var_source_button.1.1": "static", "var_value_button.1.1": "abc", "var_example_button.1.1": "abc"},
    )

    response = admin_client.post("/templates/new/", post)

    assert response.status_code == 302, response.content.decode()[:2000]
    template = MessageTemplate.objects.get(name="consulta_amanha")
    assert template.status == TemplateStatus.PENDING and template.meta_template_id
    sent = [r for r in graph.requests if r.method == "POST" and r.path.endswith("/message_templates")][0].json()
    parts = {c["type"]: c for c in sent["components"]}
    assert parts["BODY"]["example"] == {"body_text": [["Ana", "Recife"]]}
    assert parts["BUTTONS"]["buttons"][1] == {
        "type": "URL",
        "text": "Remarcar",
        "url": "https://clinica.com.br/remarcar/{{1}}",
        "example": ["abc"],
    }
    assert template.variables["button.1.1"] == {"source": "static", "value": "abc"}


def test_metas_refusal_on_submit_keeps_the_draft_and_says_why(admin_client, cloud_channel, graph):
    from tests.stubs.graph_templates import template_error

    graph.template_errors.append(template_error(2388024))
    response = admin_client.post("/templates/new/", _builder_post(cloud_channel, action="submit"), follow=True)

    template = MessageTemplate.objects.get(name="consulta_amanha")
    assert template.status == TemplateStatus.DRAFT
    assert "already exists in this language at WhatsApp" in response.content.decode()


def test_live_builder_previews_with_examples_and_brings_new_variables(admin_client, cloud_channel):
    post = _builder_post(cloud_channel, body="Oi {{1}}, seu pedido {{2}} saiu hoje e chega em {{3}} dias.")

    response = admin_client.post("/templates/live/", post)

    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="phone-preview"' in html
    assert "Oi Ana, seu pedido Recife saiu hoje e chega em {{3}} dias." in html  # examples; {{3}} unmapped
    assert 'id="template-variables"' in html and 'hx-swap-oob="true"' in html  # {{3}} is new
    assert 'name="var_source_3"' in html
    assert "Give an example value for {{3}}" in html


def test_live_preview_for_a_contact_uses_their_data_and_fallbacks(admin_client, sandbox_channel):
    from crm.models import Contact

    ana = Contact.objects.create(phone="+5511911112222", name="Ana Lima", custom_fields={"cidade": "Recife"})
    bruno = Contact.objects.create(phone="+5511933334444", name="", custom_fields={})

    html = admin_client.post("/templates/live/", {**_builder_post(sandbox_channel), "preview_contact": ana.pk}).content
    assert "Olá Ana, sua consulta em Recife é amanhã às 9h." in html.decode()

    html = admin_client.post(
        "/templates/live/", {**_builder_post(sandbox_channel), "preview_contact": bruno.pk}
    ).content
    assert "Olá cliente, sua consulta em nossa clínica é amanhã às 9h." in html.decode()


def test_preview_draws_whatsapp_formatting_and_escapes_html(admin_client, sandbox_channel):
    body = "Olá {{1}}, *promoção* _hoje_ ~ontem~ <script>x</script> em https://loja.com.br/ofertas agora."
    html = admin_client.post("/templates/live/", _builder_post(sandbox_channel, body=body)).content.decode()
    assert "<strong>promoção</strong>" in html and "<em>hoje</em>" in html and "<s>ontem</s>" in html
    assert "<script>x</script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html
    assert 'underline dark:text-sky-300">https://loja.com.br/ofertas</span> agora' in html


def test_sms_counter_shows_gsm7_or_ucs2_and_segments(admin_client, tenant):
    from inbox.services import channel_create

    sms = channel_create(
        kind="sms",
        name="SMS",
        config={"account_sid": "AC1", "from_number": "+5511940001000"},
        credentials={"auth_token": "t"},
    )
    plain = admin_client.post(
        "/templates/live/", _builder_post(sms, body="Oi {{1}}, sua fatura vence amanha. Pague pelo app.")
    ).content.decode()
    counter = re.search(r'data-testid="sms-counter".*?</figcaption>', plain, re.S).group(0)
    assert "GSM-7" in counter and "1 SMS segment" in counter

    accented = admin_client.post(
        "/templates/live/",
        _builder_post(sms, body="Oi {{1}}, sua fatura vence amanhã. " + "Pague já pelo aplicativo. " * 3),
    ).content.decode()
    counter = re.search(r'data-testid="sms-counter".*?</figcaption>', accented, re.S).group(0)
    assert "UCS-2" in counter and "2 SMS segments" in counter


def test_template_page_previews_for_a_chosen_contact(admin_client, sandbox_channel):
    from crm.models import Contact

    template = _local(sandbox_channel)
    ana = Contact.objects.create(phone="+5511911112222", name="Ana Lima", custom_fields={"cidade": "Recife"})

    page = admin_client.get(f"/templates/{template.pk}/").content.decode()
    assert "Olá cliente, sua consulta em nossa clínica" in page  # no contact chosen: the fallbacks
    part = admin_client.get(
        f"/templates/{template.pk}/?contact={ana.pk}", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="template-preview"
    )
    assert "Olá Ana, sua consulta em Recife é amanhã às 9h." in part.content.decode()
    assert "<html" not in part.content.decode()


def test_template_page_saves_the_variable_mapping(admin_client, cloud_channel, graph):
    graph.add_template(
        WABA, name="boas_vindas", components=[{"type": "BODY", "text": "Bem-vindo, {{1}}! Seu cupom é {{2}}."}]
    )
    mt.templates_sync(channel=cloud_channel)
    template = MessageTemplate.objects.get(name="boas_vindas")

    response = admin_client.post(
        f"/templates/{template.pk}/variables/",
        {
            "var_source_1": "contact.name",
            "var_fallback_1": "cliente",
            "var_source_2": "static",
            "var_value_2": "BEMVINDO",
        },
    )

    assert response.status_code == 302
    template.refresh_from_db()
    assert template.variables == {
        "1": {"source": "contact.name", "fallback": "cliente"},
        "2": {"source": "static", "value": "BEMVINDO"},
    }


def test_sync_button_and_delete_from_the_pages(admin_client, cloud_channel, graph):
    graph.add_template(WABA, name="aviso")
    response = admin_client.post("/templates/sync/", {"channel": cloud_channel.pk}, follow=True)
    assert "1 templates brought from WhatsApp" in response.content.decode()
    template = MessageTemplate.objects.get(name="aviso")

    response = admin_client.post(f"/templates/{template.pk}/delete/")

    assert response.status_code == 302
    assert not MessageTemplate.objects.filter(pk=template.pk).exists()
    assert graph.templates[WABA] == []


def test_a_template_in_review_cannot_be_edited(admin_client, cloud_channel, graph):
    template = mt.template_save(
        origin=TemplateOrigin.META,
        name="em_revisao",
        language="pt_BR",
        category="MARKETING",
        parameter_format="POSITIONAL",
        components=[{"type": "BODY", "text": "Olá, temos novidades na loja para você hoje."}],
        variables={},
        channel=cloud_channel,
    )
    mt.template_submit(template=template)
    response = admin_client.get(f"/templates/{template.pk}/edit/", follow=True)
    assert "only when it is approved, rejected or paused" in response.content.decode()


def test_a_tracked_url_button_points_at_our_short_link_and_keeps_the_destination(admin_client, cloud_channel, graph):
    post = _builder_post(
        cloud_channel,
        action="submit",
        category="MARKETING",
        button_type_0="URL",
        button_text_0="Ver oferta",
        button_url_0="https://loja.com.br/oferta",
        button_track_0="on",
    )
    response = admin_client.post("/templates/new/", post)
    assert response.status_code == 302, response.content.decode()[:1500]
    template = MessageTemplate.objects.get(name="consulta_amanha")
    button = template.component("BUTTONS")["buttons"][0]
    assert button["url"] == "http://acme.localhost:8000/l/{{1}}" and button["example"] == ["AbC123"]
    assert template.variables["button.0.1"] == {"source": "link.button.0", "url": "https://loja.com.br/oferta"}
    # editing shows the destination again, not our redirect
    page = admin_client.get(f"/templates/{template.pk}/").content.decode()
    assert "Ver oferta" in page
