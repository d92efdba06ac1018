"""One permission layer for pages and API: roles owner > admin > agent > viewer."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ValidationError

from tenants import services
from tenants.models import Membership
from tenants.roles import Role, assignable_roles, role_at_least


@pytest.fixture(autouse=True)
def _english():
    """Messages are asserted through their (English) constants."""
    from django.utils import translation

    with translation.override("en"):
        yield


@pytest.mark.parametrize(
    ("role", "minimum", "allowed"),
    [
        ("owner", "admin", True),
        ("admin", "admin", True),
        ("agent", "admin", False),
        ("viewer", "agent", False),
        ("agent", "viewer", True),
        (None, "viewer", False),
    ],
)
def test_role_order(role, minimum, allowed):
    assert role_at_least(role, minimum) is allowed


def test_assignable_roles():
    assert assignable_roles("owner") == ["owner", "admin", "agent", "viewer"]
    assert "owner" not in assignable_roles("admin")
    assert assignable_roles("agent") == []


@pytest.mark.parametrize(("role", "status"), [("owner", 200), ("admin", 200), ("agent", 403), ("viewer", 403)])
def test_api_keys_page_needs_admin(tenant_client_factory, make_member, acme, role, status):
    client = tenant_client_factory(acme, make_member(role))
    assert client.get("/settings/api-keys/").status_code == status


@pytest.mark.parametrize(("role", "status"), [("admin", 302), ("agent", 404), ("viewer", 404)])
def test_only_admins_invite(tenant_client_factory, make_member, acme, role, status):
    client = tenant_client_factory(acme, make_member(role))
    response = client.post("/settings/members/", {"email": "novo@acme.test", "role": "agent"})
    assert response.status_code == status


def test_admin_cannot_make_an_owner(acme, make_member):
    admin = Membership.objects.get(user=make_member("admin"), company=acme)
    target = Membership.objects.get(user=make_member("agent"), company=acme)
    with pytest.raises(ValidationError):
        services.membership_set_role(membership=target, role=Role.OWNER, by=admin)


def test_last_owner_cannot_be_demoted_or_removed(acme, make_member):
    owner = Membership.objects.get(user=make_member("owner"), company=acme)
    with pytest.raises(ValidationError, match=re.escape(services.ERR_LAST_OWNER)):
        services.membership_set_role(membership=owner, role=Role.ADMIN, by=owner)
    with pytest.raises(ValidationError):
        services.membership_remove(membership=owner, by=owner)
    second = Membership.objects.get(user=make_member("owner"), company=acme)
    services.membership_set_role(membership=owner, role=Role.ADMIN, by=second)
    owner.refresh_from_db()
    assert owner.role == Role.ADMIN


def test_viewer_api_can_read_but_not_write(tenant_client_factory, acme, owner):
    key, full = services.api_key_create(company=acme, name="BI", role="viewer", by=owner)
    client = tenant_client_factory(acme)
    assert client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Api-Key {full}").status_code == 200
    assert client.post("/api/v1/me/", HTTP_AUTHORIZATION=f"Api-Key {full}").status_code == 403


def test_role_required_refuses_an_unknown_ability_when_applied():
    import pytest
    from django.core.exceptions import ImproperlyConfigured

    from tenants.permissions import role_required

    with pytest.raises(ImproperlyConfigured, match="workspace.wrok"):
        role_required("workspace.wrok")
    assert role_required("workspace.work")(lambda request: None).required_role == "agent"
    assert role_required("admin")(lambda request: None).required_role == "admin"
