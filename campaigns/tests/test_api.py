"""Campaigns API: templates (CRUD, sync, submit; Meta's rules as 400s) and campaigns (create,
estimate, start, pause, resume, cancel, stats, recipients), roles, Idempotency-Key on create
and start, tenant isolation, and the OpenAPI schema."""

from __future__ import annotations

import pytest
from django.db import connection

from campaigns.models import Campaign, CampaignState, MessageTemplate, Recipient, TemplateStatus
from campaigns.tests.conftest import WABA

API = "/api/v1/campaigns"


@pytest.fixture
def admin(tenant_client_factory, acme, make_member):
    return tenant_client_factory(acme, make_member("admin", email="admin@api.test"))


@pytest.fixture
def viewer(tenant_client_factory, acme, make_member):
    return tenant_client_factory(acme, make_member("viewer", email="viewer@api.test"))


@pytest.fixture
def api_key(acme):
    """An admin API key of acme (``Authorization: Api-Key ...``)."""
    from tenants.services import api_key_create

    connection.set_schema_to_public()
    _key, full = api_key_create(company=acme, name="ERP", role="admin", by=None)
    connection.set_tenant(acme)
    return full


@pytest.fixture
def segment(tenant):
    from crm.models import Contact, Segment, Tag

    tag = Tag.objects.create(name="Clientes")
    for i in range(3):
        Contact.objects.create(name=f"Pessoa {i}", phone=f"+551196666000{i}", tag_ids=[tag.pk])
    return Segment.objects.create(name="Clientes", filters={"tags_any": [tag.pk]})


def _json(client, method, path, data=None, **headers):
    return getattr(client, method)(path, data, content_type="application/json", **headers)


def _campaign_body(channel, segment, **extra):
    return {
        "name": "API",
        "channel": channel.pk,
        "variants": [{"body": "Olá {{first_name}}, temos novidades!", "variables": {}}],
        "audience_kind": "segments",
        "segment_ids": [segment.pk],
        **extra,
    }


# --- templates ----------------------------------------------------------------------------


def test_template_create_submit_list_and_delete(admin, cloud_channel, graph):
    body = {
        "channel": cloud_channel.pk,
        "name": "pedido_pronto",
        "language": "pt_BR",
        "category": "UTILITY",
        "components": [
            {
                "type": "BODY",
                "text": "Olá {{1}}, seu pedido {{2}} está pronto.",
                "example": {"body_text": [["Ana", "9"]]},
            }
        ],
        "variables": {"1": {"source": "contact.first_name", "fallback": "cliente"}},
        "submit": True,
    }

    response = _json(admin, "post", f"{API}/templates/", body)

    assert response.status_code == 201, response.content
    data = response.json()
    assert data["status"] == "PENDING" and data["meta_template_id"] and data["origin"] == "meta"
    assert [t["name"] for t in admin.get(f"{API}/templates/").json()] == ["pedido_pronto"]
    assert admin.get(f"{API}/templates/{data['id']}/").json()["variables"]["1"]["fallback"] == "cliente"
    assert admin.delete(f"{API}/templates/{data['id']}/").status_code == 204
    assert graph.templates[WABA] == []


def test_template_create_answers_metas_rules_as_400_and_saves_nothing(admin, cloud_channel, graph):
    body = {
        "channel": cloud_channel.pk,
        "name": "Pedido Pronto",
        "components": [{"type": "BODY", "text": "{{1}} chegou"}],
    }
    response = _json(admin, "post", f"{API}/templates/", body)
    assert response.status_code == 400
    errors = response.json()
    assert "name" in errors and "body" in errors and "example.1" in errors
    assert not MessageTemplate.objects.exists() and graph.requests == []


def test_template_sync_and_submit_through_the_api(admin, cloud_channel, graph, sandbox_channel):
    graph.add_template(WABA, name="boas_vindas")
    assert _json(admin, "post", f"{API}/templates/sync/", {"channel": cloud_channel.pk}).json() == {
        "created": 1,
        "updated": 0,
        "removed": 0,
    }
    response = _json(admin, "post", f"{API}/templates/sync/", {"channel": sandbox_channel.pk})
    assert response.status_code == 400 and "Only WhatsApp Cloud API numbers" in str(response.json())


def test_template_edit_of_a_local_template_and_variables(admin, sandbox_channel):
    created = _json(
        admin,
        "post",
        f"{API}/templates/",
        {"channel": sandbox_channel.pk, "name": "aviso", "components": [{"type": "BODY", "text": "Oi {{1}}!"}]},
    ).json()
    assert created["status"] == "APPROVED" and created["origin"] == "local"
    response = _json(
        admin,
        "patch",
        f"{API}/templates/{created['id']}/",
        {"components": [{"type": "BODY", "text": "Olá {{1}}!"}], "variables": {"1": {"source": "contact.name"}}},
    )
    assert response.status_code == 200
    assert response.json()["components"][0]["text"] == "Olá {{1}}!"
    assert response.json()["variables"] == {"1": {"source": "contact.name"}}


def test_viewers_read_templates_but_cannot_write(viewer, sandbox_channel):
    assert viewer.get(f"{API}/templates/").status_code == 200
    body = {"channel": sandbox_channel.pk, "name": "x", "components": [{"type": "BODY", "text": "Oi"}]}
    assert _json(viewer, "post", f"{API}/templates/", body).status_code == 403


# --- campaigns ------------------------------------------------------------------------------


def test_create_estimate_start_pause_resume_cancel(admin, sandbox_channel, segment):
    from campaigns import services

    response = _json(admin, "post", f"{API}/", _campaign_body(sandbox_channel, segment))
    assert response.status_code == 201, response.content
    campaign_id = response.json()["id"]
    assert response.json()["state"] == "draft" and response.json()["variants"][0]["key"] == "A"

    estimate = admin.get(f"{API}/{campaign_id}/estimate/").json()
    assert estimate["recipients"] == 3 and estimate["excluded"] == {"opted_out": 0}

    assert _json(admin, "post", f"{API}/{campaign_id}/start/", {}).json()["state"] == "running"
    services.campaign_launch(campaign_id=campaign_id)
    assert _json(admin, "post", f"{API}/{campaign_id}/pause/").json()["state"] == "paused"
    stats = admin.get(f"{API}/{campaign_id}/stats/").json()
    assert stats["state"] == "paused" and stats["pause_text"] == "Paused by a person"
    assert stats["counters"]["total"] == 3 and stats["counters"]["queued"] == 3
    assert _json(admin, "post", f"{API}/{campaign_id}/resume/").json()["state"] == "running"
    assert _json(admin, "post", f"{API}/{campaign_id}/cancel/").json()["state"] == "cancelled"
    response = _json(admin, "post", f"{API}/{campaign_id}/pause/")
    assert response.status_code == 400 and response.json()["detail"] == ["Only a sending campaign can be paused."]

    recipients = admin.get(f"{API}/{campaign_id}/recipients/?state=skipped").json()
    assert len(recipients["results"]) == 3
    assert recipients["results"][0]["reason_text"] == "The campaign was cancelled"


def test_create_is_idempotent_per_key_and_caller(admin, sandbox_channel, segment, api_key, tenant_client_factory, acme):
    body = _campaign_body(sandbox_channel, segment)
    first = _json(admin, "post", f"{API}/", body, HTTP_IDEMPOTENCY_KEY="k-1")
    again = _json(admin, "post", f"{API}/", body, HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201 and again.status_code == 200
    assert first.json()["id"] == again.json()["id"]
    # the same key from another caller is another campaign
    integration = tenant_client_factory(acme)
    other = _json(
        integration, "post", f"{API}/", body, HTTP_IDEMPOTENCY_KEY="k-1", HTTP_AUTHORIZATION=f"Api-Key {api_key}"
    )
    assert other.status_code == 201 and other.json()["id"] != first.json()["id"]
    assert Campaign.objects.count() == 2


def test_start_is_idempotent_per_key(admin, sandbox_channel, segment):
    campaign_id = _json(admin, "post", f"{API}/", _campaign_body(sandbox_channel, segment)).json()["id"]
    first = _json(admin, "post", f"{API}/{campaign_id}/start/", {}, HTTP_IDEMPOTENCY_KEY="go")
    again = _json(admin, "post", f"{API}/{campaign_id}/start/", {}, HTTP_IDEMPOTENCY_KEY="go")
    assert first.status_code == again.status_code == 200
    assert again.json()["state"] == "running"
    without_key = _json(admin, "post", f"{API}/{campaign_id}/start/", {})
    assert without_key.status_code == 400  # a second start without the key is refused


def test_create_with_bad_input_says_why(admin, sandbox_channel, segment):
    response = _json(admin, "post", f"{API}/", _campaign_body(sandbox_channel, segment, segment_ids=[]))
    assert response.status_code == 400 and response.json()["detail"] == ["Choose who receives the campaign."]
    body = _campaign_body(sandbox_channel, segment)
    body["variants"] = [{"body": "a", "split": 60}, {"body": "b", "split": 60}]
    response = _json(admin, "post", f"{API}/", body)
    assert response.status_code == 400 and "must add up to 100%" in str(response.json())
    response = _json(admin, "post", f"{API}/", {"name": "x"})
    assert response.status_code == 400 and "channel" in response.json()
    assert not Campaign.objects.exists()


def test_schedule_through_the_api(admin, sandbox_channel, segment):
    campaign_id = _json(admin, "post", f"{API}/", _campaign_body(sandbox_channel, segment)).json()["id"]
    response = _json(admin, "post", f"{API}/{campaign_id}/start/", {"at": "2099-01-01T09:00:00-03:00"})
    assert response.json()["state"] == "scheduled"
    assert response.json()["scheduled_at"].startswith("2099-01-01T")


def test_viewers_and_agents_cannot_run_campaigns(
    viewer, tenant_client_factory, make_member, acme, admin, sandbox_channel, segment
):
    agent = tenant_client_factory(acme, make_member("agent", email="agent@api.test"))
    campaign_id = _json(admin, "post", f"{API}/", _campaign_body(sandbox_channel, segment)).json()["id"]
    for client in (viewer, agent):
        assert client.get(f"{API}/{campaign_id}/").status_code == 200
        assert _json(client, "post", f"{API}/", _campaign_body(sandbox_channel, segment)).status_code == 403
        assert _json(client, "post", f"{API}/{campaign_id}/start/", {}).status_code == 403
    assert Campaign.objects.get(pk=campaign_id).state == CampaignState.DRAFT


def test_another_companys_campaigns_and_templates_are_404(admin, other_company, acme):
    from inbox.models import Channel

    connection.set_tenant(other_company)
    theirs = Campaign.objects.create(name="Deles", channel=Channel.objects.create(kind="sandbox", name="D"))
    template = MessageTemplate.objects.create(name="deles", status=TemplateStatus.APPROVED)
    connection.set_tenant(acme)
    for path in (f"{theirs.pk}/", f"{theirs.pk}/stats/", f"{theirs.pk}/recipients/", f"{theirs.pk}/estimate/"):
        assert admin.get(f"{API}/{path}").status_code == 404, path
    for action in ("start", "pause", "resume", "cancel"):
        assert _json(admin, "post", f"{API}/{theirs.pk}/{action}/").status_code == 404
    assert admin.get(f"{API}/templates/{template.pk}/").status_code == 404
    assert admin.delete(f"{API}/templates/{template.pk}/").status_code == 404
    assert admin.get(f"{API}/").json()["results"] == []
    connection.set_tenant(other_company)
    assert (
        Recipient.objects.filter(campaign=theirs).count() == 0
        and MessageTemplate.objects.filter(pk=template.pk).exists()
    )


def test_the_schema_documents_the_campaign_endpoints(admin):
    schema = admin.get("/api/v1/schema/?format=json").json()
    paths = schema["paths"]
    for path in (
        "/api/v1/campaigns/",
        "/api/v1/campaigns/{id}/start/",
        "/api/v1/campaigns/{id}/estimate/",
        "/api/v1/campaigns/{id}/recipients/",
        "/api/v1/campaigns/templates/",
        "/api/v1/campaigns/templates/sync/",
        "/api/v1/campaigns/templates/{id}/submit/",
    ):
        assert path in paths, path
    params = [p["name"] for p in paths["/api/v1/campaigns/"]["post"]["parameters"]]
    assert "Idempotency-Key" in params
