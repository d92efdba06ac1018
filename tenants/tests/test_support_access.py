"""Support access (audit M5): only staff holding the support permission may open a company;
inside, they read what an admin reads but mint nothing that outlives the visit (API keys,
invitations, roles); every change they make is written to the audit log with the real address."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from tenants.models import ApiKey, Invitation, Membership, SupportAccess, SupportAction
from tests.support_access import enter_support


@pytest.fixture
def staff(make_user):
    user = make_user(email="suporte@masteria.test", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="open_workspace", content_type__app_label="tenants"))
    return user


def test_staff_without_the_support_permission_cannot_open_a_company(client, acme, make_user):
    bare = make_user(email="estagiario@masteria.test", is_staff=True)
    client.force_login(bare)
    url = f"/admin/tenants/company/{acme.pk}/open/"
    assert client.get(url, HTTP_HOST="localhost").status_code == 403
    assert client.post(url, {"reason": "Ticket #1: curiosity"}, HTTP_HOST="localhost").status_code == 403
    assert not SupportAccess.objects.exists()


def test_the_audit_row_keeps_the_connection_address_not_a_header(client, acme, staff, tenant_client_factory):
    workspace = enter_support(client, tenant_client_factory(acme), staff, acme, forwarded_for="203.0.113.9")
    assert workspace.get("/settings/members/").status_code == 200
    assert SupportAccess.objects.get().ip_address == "127.0.0.1"


def test_support_reads_but_mints_no_keys_invitations_or_roles(client, acme, staff, owner, tenant_client_factory):
    agent = Membership.objects.create(user=type(owner).objects.create_user(email="a@acme.test"), company=acme)
    workspace = enter_support(client, tenant_client_factory(acme), staff, acme)
    assert workspace.get("/settings/api-keys/").status_code == 200
    assert workspace.get("/settings/members/").status_code == 200
    refused = [
        workspace.post("/settings/api-keys/", {"name": "backdoor", "role": "admin"}),
        workspace.post("/settings/members/", {"email": "suporte@masteria.test", "role": "admin"}),
        workspace.post(f"/settings/members/{agent.pk}/role/", {"role": "owner"}),
        workspace.post(f"/settings/members/{agent.pk}/remove/"),
    ]
    assert [r.status_code for r in refused] == [403, 403, 403, 403]
    # other tests' committed rows may exist in the kept database: look for these only
    assert not ApiKey.objects.filter(company=acme, name="backdoor").exists()
    assert not Invitation.objects.filter(company=acme, email="suporte@masteria.test").exists()
    agent.refresh_from_db()
    assert agent.role == "agent"


def test_every_change_in_a_support_session_is_audited(client, acme, staff, tenant_client_factory):
    workspace = enter_support(client, tenant_client_factory(acme), staff, acme)
    workspace.get("/contacts/")  # a page read: audited too
    workspace.get("/contacts/", HTTP_HX_REQUEST="true")  # a partial the page polls: not
    created = workspace.post(
        "/api/v1/tags/", {"name": "suporte"}, content_type="application/json", HTTP_REFERER="http://acme.localhost/"
    )
    assert created.status_code == 201
    workspace.post("/settings/api-keys/", {"name": "x", "role": "admin"})
    access = SupportAccess.objects.get()
    actions = list(SupportAction.objects.filter(access=access).order_by("pk").values_list("method", "path", "status"))
    assert actions == [
        ("GET", "/contacts/", 200),
        ("POST", "/api/v1/tags/", 201),
        ("POST", "/settings/api-keys/", 403),
    ]


def test_support_ends_with_its_window_or_with_the_permission(client, acme, staff, tenant_client_factory):
    workspace = enter_support(client, tenant_client_factory(acme), staff, acme)
    assert workspace.get("/settings/members/").status_code == 200
    staff.user_permissions.clear()
    assert workspace.get("/settings/members/").status_code == 404
    staff.user_permissions.add(Permission.objects.get(codename="open_workspace"))
    assert workspace.get("/settings/members/").status_code == 200
    SupportAccess.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    assert workspace.get("/settings/members/").status_code == 404


def test_the_admin_cannot_mint_keys_or_invitations_either(client, make_user):
    root = make_user(email="root@masteria.test", is_staff=True, is_superuser=True)
    client.force_login(root)
    assert client.get("/admin/tenants/apikey/add/", HTTP_HOST="localhost").status_code == 403
    assert client.get("/admin/tenants/invitation/add/", HTTP_HOST="localhost").status_code == 403
