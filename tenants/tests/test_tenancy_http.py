"""HTTP entry points fail closed: pages and API of another company look like nothing."""

from __future__ import annotations

import pytest

from tenants import services
from tenants.api.tokens import StampedRefreshToken as RefreshToken


def test_member_sees_own_dashboard(owner_client):
    response = owner_client.get("/")
    assert response.status_code == 200
    assert b"Acme Ltda" in response.content


def test_member_of_one_company_gets_404_on_another(tenant_client_factory, acme, other_company, owner):
    client = tenant_client_factory(other_company, owner)
    assert client.get("/").status_code == 404
    assert client.get("/settings/members/").status_code == 404


def test_unknown_host_is_404(client, db):
    assert client.get("/", HTTP_HOST="ghost.localhost").status_code == 404


def test_anonymous_is_sent_to_login(tenant_client_factory, acme):
    response = tenant_client_factory(acme).get("/settings/members/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_api_of_another_company_is_404_with_jwt(tenant_client_factory, acme, other_company, owner):
    token = str(RefreshToken.for_user(owner).access_token)
    own = tenant_client_factory(acme).get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert own.status_code == 200
    assert own.json()["role"] == "owner"
    foreign = tenant_client_factory(other_company).get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert foreign.status_code == 404


def test_api_key_only_works_on_its_company(tenant_client_factory, acme, other_company, owner):
    _key, full = services.api_key_create(company=acme, name="ERP", role="agent", by=owner)
    own = tenant_client_factory(acme).get("/api/v1/me/", HTTP_AUTHORIZATION=f"Api-Key {full}")
    assert own.status_code == 200
    assert own.json()["role"] == "agent"
    foreign = tenant_client_factory(other_company).get("/api/v1/me/", HTTP_AUTHORIZATION=f"Api-Key {full}")
    assert foreign.status_code == 401


def test_api_on_public_domain_is_404(public_client, owner):
    token = str(RefreshToken.for_user(owner).access_token)
    assert public_client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 404


def test_workspace_pages_are_not_served_on_public_domain(public_client, owner):
    public_client.force_login(owner)
    assert public_client.get("/settings/members/").status_code == 404


@pytest.mark.parametrize("path", ["/admin/", "/workspaces/"])
def test_public_only_pages_are_not_on_company_domains(owner_client, path):
    assert owner_client.get(path).status_code == 404


def test_inactive_company_is_suspended(owner_client, acme):
    acme.is_active = False
    acme.save(update_fields=["is_active"])
    assert owner_client.get("/").status_code == 403
