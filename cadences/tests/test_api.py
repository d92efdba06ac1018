"""Cadences API: create, steps, status, enrol (ids, filters, segment), unenrol, list, stats,
roles, errors as 400s, tenant isolation, and the OpenAPI schema."""

from __future__ import annotations

import pytest
from django.db import connection

from cadences.models import Cadence, Enrollment

API = "/api/v1/cadences"


@pytest.fixture
def admin(tenant_client_factory, acme, make_member):
    return tenant_client_factory(acme, make_member("admin", email="admin@cad.test"))


@pytest.fixture
def agent(tenant_client_factory, acme, make_member):
    return tenant_client_factory(acme, make_member("agent", email="agent@cad.test"))


@pytest.fixture
def viewer(tenant_client_factory, acme, make_member):
    return tenant_client_factory(acme, make_member("viewer", email="viewer@cad.test"))


def _json(client, method, path, data=None):
    return getattr(client, method)(path, data, content_type="application/json")


def _build(admin, channel):
    r = _json(admin, "post", f"{API}/", {"name": "API drip", "channel": channel.pk, "weekdays": [0, 1, 2, 3, 4]})
    assert r.status_code == 201, r.content
    cadence_id = r.json()["id"]
    for step in (
        {"kind": "send", "config": {"body": "Oi {{first_name}}"}},
        {"kind": "wait", "config": {"amount": 2, "unit": "business_days", "at": "09:30"}},
        {"kind": "send", "config": {"body": "Segunda"}},
    ):
        r = _json(admin, "post", f"{API}/{cadence_id}/steps/", step)
        assert r.status_code == 201, r.content
    r = _json(admin, "post", f"{API}/{cadence_id}/status/", {"status": "active"})
    assert r.status_code == 200 and r.json()["status"] == "active"
    return cadence_id


def test_build_enrol_list_unenrol(admin, agent, channel, contacts):
    cadence_id = _build(admin, channel)
    people = contacts(3)
    r = _json(agent, "post", f"{API}/{cadence_id}/enrollments/", {"contact_ids": [p.pk for p in people]})
    assert r.status_code == 200 and r.json() == {"enrolled": 3}
    listed = agent.get(f"{API}/{cadence_id}/enrollments/").json()["results"]
    assert {row["contact"] for row in listed} == {p.pk for p in people}
    r = _json(agent, "post", f"{API}/enrollments/{listed[0]['id']}/unenrol/")
    assert r.status_code == 200 and r.json()["exit_reason"] == "manual"
    stats = admin.get(f"{API}/{cadence_id}/stats/").json()
    assert [row["kind"] for row in stats] == ["send", "wait", "send"]
    assert stats[0]["exited"] == 1


def test_enrol_by_filters_and_segment(admin, channel, contacts):
    from crm.models import Contact, Segment, Tag

    cadence_id = _build(admin, channel)
    tag = Tag.objects.create(name="api")
    people = contacts(3)
    Contact.objects.filter(pk=people[0].pk).update(tag_ids=[tag.pk])
    r = _json(admin, "post", f"{API}/{cadence_id}/enrollments/", {"filters": {"tags_any": [tag.pk]}})
    assert r.json() == {"enrolled": 1}
    segment = Segment.objects.create(name="api seg", filters={"tags_none": [tag.pk]})
    r = _json(admin, "post", f"{API}/{cadence_id}/enrollments/", {"segment": segment.pk})
    assert r.status_code == 200 and r.json()["enrolled"] >= 2


def test_bad_input_is_a_translated_400_and_changes_nothing(admin, channel):
    from cadences.steps import ERR_WAIT_AMOUNT

    cadence_id = _build(admin, channel)
    r = _json(admin, "post", f"{API}/{cadence_id}/steps/", {"kind": "wait", "config": {"amount": 0, "unit": "days"}})
    assert r.status_code == 400 and ERR_WAIT_AMOUNT in str(r.json())
    r = _json(admin, "post", f"{API}/", {"name": "x", "channel": channel.pk, "weekdays": []})
    assert r.status_code == 400
    r = _json(admin, "post", f"{API}/{cadence_id}/enrollments/", {})
    assert r.status_code == 400
    assert Cadence.objects.get(pk=cadence_id).steps.count() == 3


def test_roles_viewer_reads_agent_enrols_admin_edits(admin, agent, viewer, channel, contacts):
    cadence_id = _build(admin, channel)
    assert viewer.get(f"{API}/").status_code == 200
    assert (
        _json(viewer, "post", f"{API}/{cadence_id}/enrollments/", {"contact_ids": [contacts(1)[0].pk]}).status_code
        == 403
    )
    assert _json(agent, "post", f"{API}/{cadence_id}/status/", {"status": "paused"}).status_code == 403
    assert (
        _json(agent, "post", f"{API}/{cadence_id}/enrollments/", {"contact_ids": [contacts(1)[0].pk]}).status_code
        == 200
    )


def test_reorder_and_step_edit_and_delete(admin, channel):
    cadence_id = _build(admin, channel)
    steps = admin.get(f"{API}/{cadence_id}/").json()["steps"]
    ids = [s["id"] for s in steps]
    r = _json(admin, "post", f"{API}/{cadence_id}/steps/reorder/", {"steps": [ids[2], ids[1], ids[0]]})
    assert r.status_code == 200 and [s["id"] for s in r.json()] == [ids[2], ids[1], ids[0]]
    r = _json(admin, "patch", f"{API}/steps/{ids[1]}/", {"config": {"amount": 3, "unit": "hours"}})
    assert r.status_code == 200 and r.json()["config"]["amount"] == 3
    assert admin.delete(f"{API}/steps/{ids[1]}/").status_code == 204
    assert len(admin.get(f"{API}/{cadence_id}/").json()["steps"]) == 2


def test_another_companys_cadence_is_a_404(admin, channel, tenant_client_factory, other_company, make_user):
    cadence_id = _build(admin, channel)
    from tenants.models import Membership

    connection.set_schema_to_public()
    user = make_user(email="outsider@cad.test")
    Membership.objects.create(user=user, company=other_company, role="admin")
    outsider = tenant_client_factory(other_company, user)
    assert outsider.get(f"{API}/{cadence_id}/").status_code == 404
    assert _json(outsider, "post", f"{API}/{cadence_id}/enrollments/", {"contact_ids": [1]}).status_code == 404
    from tenants.models import Company

    connection.set_tenant(Company.objects.get(slug="acme"))
    assert Enrollment.objects.filter(cadence_id=cadence_id).count() == 0


def test_the_schema_documents_the_cadence_endpoints(admin):
    paths = admin.get("/api/v1/schema/?format=json").json()["paths"]
    for path in (
        "/api/v1/cadences/",
        "/api/v1/cadences/{id}/",
        "/api/v1/cadences/{id}/status/",
        "/api/v1/cadences/{id}/steps/",
        "/api/v1/cadences/{id}/steps/reorder/",
        "/api/v1/cadences/{id}/stats/",
        "/api/v1/cadences/steps/{id}/",
        "/api/v1/cadences/{cadence_pk}/enrollments/",
        "/api/v1/cadences/enrollments/{id}/unenrol/",
    ):
        assert path in paths, path
