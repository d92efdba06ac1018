"""A suspended company (``is_active=False``) is closed on every way in (audit M4): pages, API
keys, JWTs, new tokens and refreshes; support staff keep their audited access."""

from __future__ import annotations

import pytest
from django.utils import translation

from tenants import services
from tenants.api.permissions import ERR_SUSPENDED
from tenants.api.tokens import StampedRefreshToken
from tests.conftest_helpers import TEST_PASSWORD


@pytest.fixture
def suspend(acme):
    def run():
        acme.is_active = False
        acme.save(update_fields=["is_active"])

    return run


def _english(text) -> str:
    with translation.override("en"):
        return str(text)


def test_api_keys_stop_working(tenant_client_factory, acme, owner, suspend):
    _key, full = services.api_key_create(company=acme, name="ERP", role="admin", by=owner)
    client = tenant_client_factory(acme)
    assert client.get("/api/v1/contacts/", HTTP_AUTHORIZATION=f"Api-Key {full}").status_code == 200
    suspend()
    read = client.get("/api/v1/contacts/", HTTP_AUTHORIZATION=f"Api-Key {full}", HTTP_ACCEPT_LANGUAGE="en")
    write = client.post(
        "/api/v1/tags/", {"name": "vip"}, content_type="application/json", HTTP_AUTHORIZATION=f"Api-Key {full}"
    )
    assert (read.status_code, write.status_code) == (403, 403)


def test_jwts_stop_working_and_no_new_ones_are_issued(tenant_client_factory, acme, owner, suspend):
    refresh = StampedRefreshToken.for_user(owner)
    client = tenant_client_factory(acme)
    client.cookies["django_language"] = "en"
    suspend()
    me = client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {refresh.access_token}")
    assert me.status_code == 403
    assert me.json()["detail"] == _english(ERR_SUSPENDED)
    issued = client.post(
        "/api/v1/auth/token/", {"email": owner.email, "password": TEST_PASSWORD}, content_type="application/json"
    )
    assert issued.status_code == 403 and "access" not in issued.json()
    renewed = client.post("/api/v1/auth/token/refresh/", {"refresh": str(refresh)}, content_type="application/json")
    assert renewed.status_code == 403 and "access" not in renewed.json()


def test_pages_are_refused_with_a_translated_message(owner_client, suspend):
    suspend()
    response = owner_client.get("/contacts/")
    assert response.status_code == 403
    with translation.override("pt-br"):
        assert str(ERR_SUSPENDED) in response.content.decode()


def test_an_active_company_is_untouched(tenant_client_factory, acme, owner, other_company):
    other_company.is_active = False
    other_company.save(update_fields=["is_active"])
    refresh = StampedRefreshToken.for_user(owner)
    client = tenant_client_factory(acme)
    assert client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {refresh.access_token}").status_code == 200
