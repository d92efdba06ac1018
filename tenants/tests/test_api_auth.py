"""API authentication: JWT for people, hashed revocable API keys for integrations."""

from __future__ import annotations

from tenants import services
from tenants.models import ApiKey
from tests.conftest_helpers import TEST_PASSWORD


def test_jwt_obtain_and_refresh(tenant_client_factory, acme, owner):
    client = tenant_client_factory(acme)
    response = client.post(
        "/api/v1/auth/token/", {"email": owner.email, "password": TEST_PASSWORD}, content_type="application/json"
    )
    assert response.status_code == 200
    tokens = response.json()
    me = client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert me.json() == {"company": "acme", "role": "owner", "email": owner.email, "api_key": None}
    refreshed = client.post(
        "/api/v1/auth/token/refresh/", {"refresh": tokens["refresh"]}, content_type="application/json"
    )
    assert refreshed.status_code == 200
    assert refreshed.json()["access"]


def test_jwt_wrong_password_is_rejected(tenant_client_factory, acme, owner):
    response = tenant_client_factory(acme).post(
        "/api/v1/auth/token/", {"email": owner.email, "password": "wrong"}, content_type="application/json"
    )
    assert response.status_code == 401


def test_no_credentials_is_401(tenant_client_factory, acme):
    assert tenant_client_factory(acme).get("/api/v1/me/").status_code == 401


def test_api_key_is_stored_hashed_and_shown_once(acme, owner):
    key, full = services.api_key_create(company=acme, name="Zapier", role="admin", by=owner)
    assert full.startswith(f"mia_{key.prefix}_")
    stored = ApiKey.objects.get(pk=key.pk)
    assert full not in (stored.key_hash, stored.prefix)
    assert stored.key_hash == ApiKey.hash_key(full)


def test_revoked_or_tampered_api_key_is_rejected(tenant_client_factory, acme, owner):
    key, full = services.api_key_create(company=acme, name="ERP", role="admin", by=owner)
    client = tenant_client_factory(acme)
    assert client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Api-Key {full}x").status_code == 401
    assert client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Api-Key {full}").status_code == 200
    services.api_key_revoke(api_key=key)
    assert client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Api-Key {full}").status_code == 401


def test_api_key_use_is_recorded(tenant_client_factory, acme, owner):
    key, full = services.api_key_create(company=acme, name="ERP", role="viewer", by=owner)
    tenant_client_factory(acme).get("/api/v1/me/", HTTP_AUTHORIZATION=f"Api-Key {full}")
    key.refresh_from_db()
    assert key.last_used_at is not None


def test_openapi_schema_is_served(tenant_client_factory, acme):
    response = tenant_client_factory(acme).get("/api/v1/schema/")
    assert response.status_code == 200
    assert b"/api/v1/me/" in response.content


def test_a_prefix_collision_draws_another_key(acme, owner, monkeypatch):
    """Audit I: the lookup prefix is unique, so an unlucky draw used to end in IntegrityError."""
    import tenants.models

    first, _full = services.api_key_create(company=acme, name="A", role="viewer", by=owner)
    draws = iter([first.prefix, "0123456789ab"])
    real = tenants.models.secrets.token_hex
    monkeypatch.setattr(tenants.models.secrets, "token_hex", lambda n: next(draws, None) or real(n))
    second, full = services.api_key_create(company=acme, name="B", role="viewer", by=owner)
    assert second.prefix == "0123456789ab" and full.startswith("mia_0123456789ab_")
    assert len(first.prefix) == 12


def test_a_view_with_its_own_permission_classes_keeps_the_membership_check(tenant, acme, make_user, make_member):
    """DRF invites ``permission_classes = [...]`` on a view; the base class's membership check
    must survive it (a non-member of the company gets 404, as on every other endpoint)."""
    from rest_framework.permissions import AllowAny
    from rest_framework.response import Response
    from rest_framework.test import APIRequestFactory, force_authenticate

    from tenants.api.base import TenantViewSet

    class Probe(TenantViewSet):
        permission_classes = [AllowAny]

        def list(self, request):
            return Response({"ok": True})

    def get(user):
        request = APIRequestFactory().get("/api/v1/probe/")
        request.tenant = acme
        force_authenticate(request, user=user)
        return Probe.as_view({"get": "list"})(request)

    assert get(make_user(email="stranger@other.test")).status_code == 404
    assert get(make_member("viewer")).status_code == 200
