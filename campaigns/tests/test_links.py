"""Tracked links: per-recipient short addresses on the company's domain, the redirect (counted
per campaign, variant and recipient; the first click only once), codes that cannot be forged
or moved to another company, and no open redirect."""

from __future__ import annotations

import pytest
from django.db import connection

from campaigns import links
from campaigns.models import Campaign, CampaignLink, CampaignVariant, LinkClick, Recipient, RecipientState


@pytest.fixture
def campaign(sandbox_channel):
    campaign = Campaign.objects.create(name="Links", channel=sandbox_channel)
    CampaignVariant.objects.create(
        campaign=campaign,
        key="A",
        body="Olá {{first_name}}! Veja https://loja.com.br/ofertas?utm=1, e https://loja.com.br/ofertas?utm=1 de novo, "
        "ou www.semlink.com e https://loja.com.br/{{cupom}}.",
    )
    return campaign


def _recipient(campaign, **fields):
    return Recipient.objects.create(campaign=campaign, phone="+5511987650001", state=RecipientState.DELIVERED, **fields)


def test_links_of_a_text_are_found_once_each_and_rewritten_per_recipient(campaign):
    created = links.campaign_links_prepare(campaign=campaign)
    assert [link.url for link in created] == [
        "https://loja.com.br/ofertas?utm=1"
    ]  # a link with a variable is not tracked
    variant = campaign.variants.get()
    rewriter = links.LinkRewriter.for_campaign(campaign)
    recipient = _recipient(campaign, variant=variant)

    text = rewriter.text(variant.body, variant.pk, recipient.pk)

    code = links.link_code(connection.schema_name, created[0].pk, recipient.pk)
    short = f"http://acme.localhost:8000/l/{code}"
    assert text.count(short) == 2 and "loja.com.br/ofertas" not in text
    assert text.startswith("Olá {{first_name}}! Veja " + short + ", e " + short + " de novo")
    assert len(code) <= 20
    other = rewriter.text(variant.body, variant.pk, recipient.pk + 1)
    assert other != text  # one address per recipient


def test_the_redirect_counts_the_first_click_once_and_every_click_on_the_link(campaign, tenant_client_factory, acme):
    [link] = links.campaign_links_prepare(campaign=campaign)
    variant = campaign.variants.get()
    recipient = _recipient(campaign, variant=variant)
    code = links.link_code(connection.schema_name, link.pk, recipient.pk)
    client = tenant_client_factory(acme)  # nobody logged in: the customer's phone

    first = client.get(f"/l/{code}", HTTP_USER_AGENT="Mozilla/5.0 (Linux; Android 14)")
    again = client.get(f"/l/{code}")

    assert first.status_code == 302 and first["Location"] == "https://loja.com.br/ofertas?utm=1"
    assert first["Cache-Control"].startswith("max-age=0") and first["Referrer-Policy"] == "no-referrer"
    assert again.status_code == 302
    link.refresh_from_db()
    recipient.refresh_from_db()
    campaign.refresh_from_db()
    variant.refresh_from_db()
    assert link.click_count == 2 and LinkClick.objects.filter(link=link).count() == 2
    assert recipient.clicked_at is not None
    assert campaign.clicked_count == 1 and variant.clicked_count == 1


def test_link_previews_and_head_requests_are_redirected_but_not_counted(campaign, tenant_client_factory, acme):
    [link] = links.campaign_links_prepare(campaign=campaign)
    recipient = _recipient(campaign)
    code = links.link_code(connection.schema_name, link.pk, recipient.pk)
    client = tenant_client_factory(acme)

    assert client.get(f"/l/{code}", HTTP_USER_AGENT="WhatsApp/2.23.20.0 A").status_code == 302
    assert client.head(f"/l/{code}").status_code == 302

    link.refresh_from_db()
    recipient.refresh_from_db()
    assert link.click_count == 0 and recipient.clicked_at is None


@pytest.mark.parametrize(
    "tamper",
    [
        lambda code: code[:-1] + ("A" if code[-1] != "A" else "B"),  # signature changed
        lambda code: "zz" + code,  # another link id
        lambda code: code.replace(".", "-"),
        lambda code: "",
        lambda code: "https://evil.example.com",
        lambda code: "%2F%2Fevil.example.com",
        lambda code: code + "?next=https://evil.example.com",
    ],
)
def test_forged_or_tampered_codes_are_404_and_never_redirect_elsewhere(campaign, tenant_client_factory, acme, tamper):
    [link] = links.campaign_links_prepare(campaign=campaign)
    recipient = _recipient(campaign)
    code = links.link_code(connection.schema_name, link.pk, recipient.pk)
    client = tenant_client_factory(acme)

    response = client.get(f"/l/{tamper(code)}")

    if response.status_code == 302:  # only the genuine code with an ignored query string
        assert response["Location"] == "https://loja.com.br/ofertas?utm=1"
    else:
        assert response.status_code == 404
        assert "Location" not in response


def test_a_code_of_one_company_does_not_work_on_another(campaign, tenant_client_factory, acme, other_company):
    [link] = links.campaign_links_prepare(campaign=campaign)
    recipient = _recipient(campaign)
    code = links.link_code(connection.schema_name, link.pk, recipient.pk)
    # the other company has a link with the same id: the signature names the company
    connection.set_tenant(other_company)
    from inbox.models import Channel

    theirs = Campaign.objects.create(name="Deles", channel=Channel.objects.create(kind="sandbox", name="X"))
    CampaignLink.objects.filter(pk=link.pk).delete()
    CampaignLink.objects.create(pk=link.pk, campaign=theirs, url="https://deles.example.com/")
    connection.set_tenant(acme)

    response = tenant_client_factory(other_company).get(f"/l/{code}")

    assert response.status_code == 404


def test_a_logged_in_member_of_another_company_can_still_open_a_link(
    campaign, tenant_client_factory, acme, make_member, other_company
):
    [link] = links.campaign_links_prepare(campaign=campaign)
    recipient = _recipient(campaign)
    code = links.link_code(connection.schema_name, link.pk, recipient.pk)
    stranger = make_member("owner", company=other_company)
    response = tenant_client_factory(acme, stranger).get(f"/l/{code}")
    assert response.status_code == 302


def test_a_cloud_template_button_with_our_redirect_gets_a_code_as_its_suffix(cloud_channel):
    from campaigns.models import MessageTemplate, TemplateOrigin, TemplateStatus
    from campaigns.rendering import template_components

    base = links.short_base()
    template = MessageTemplate.objects.create(
        origin=TemplateOrigin.META,
        waba_id="2025550001",
        name="oferta",
        status=TemplateStatus.APPROVED,
        components=[
            {"type": "BODY", "text": "Olá, a oferta chegou para você hoje."},
            {"type": "BUTTONS", "buttons": [{"type": "URL", "text": "Ver", "url": base + "{{1}}", "example": ["a"]}]},
        ],
        variables={"button.0.1": {"source": "link.button.0", "url": "https://loja.com.br/oferta"}},
    )
    campaign = Campaign.objects.create(name="Botão", channel=cloud_channel)
    variant = CampaignVariant.objects.create(campaign=campaign, key="A", template=template)

    [link] = links.campaign_links_prepare(campaign=campaign)

    assert link.button_index == 0 and link.url == "https://loja.com.br/oferta"
    recipient = _recipient(campaign, variant=variant)
    values = links.LinkRewriter.for_campaign(campaign).values(variant.pk, recipient.pk)
    components = template_components(template, template.variables, values)
    suffix = components[0]["parameters"][0]["text"]
    assert suffix == links.link_code(connection.schema_name, link.pk, recipient.pk)
    assert links.parse_code(connection.schema_name, suffix) == (link.pk, recipient.pk)
