"""Cross-subdomain trust (audit M1): a page of one company's origin (or of any other host of
BASE_DOMAIN) cannot post to another company or to the admin; only the exact origin can."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client

from tests.conftest_helpers import TEST_PASSWORD


def _csrf_client(host: str, user, page: str) -> tuple[Client, str]:
    client = Client(HTTP_HOST=host, enforce_csrf_checks=True)
    client.force_login(user)
    assert client.get(page).status_code == 200
    return client, client.cookies[settings.CSRF_COOKIE_NAME].value


@pytest.mark.parametrize(
    "origin",
    ["http://other.localhost:8000", "http://other.localhost", "http://localhost:8000", "http://evil.example"],
)
def test_unsafe_requests_from_another_origin_are_refused(acme, owner, origin):
    client, token = _csrf_client("acme.localhost:8000", owner, "/settings/profile/")
    response = client.post(
        "/settings/profile/",
        {"full_name": "Hacked", "language": "", "csrfmiddlewaretoken": token},
        HTTP_ORIGIN=origin,
    )
    assert response.status_code == 403
    owner.refresh_from_db()
    assert owner.full_name != "Hacked"


def test_the_exact_origin_is_accepted(acme, owner):
    client, token = _csrf_client("acme.localhost:8000", owner, "/settings/profile/")
    response = client.post(
        "/settings/profile/",
        {"full_name": "Dona", "language": "", "csrfmiddlewaretoken": token},
        HTTP_ORIGIN="http://acme.localhost:8000",
    )
    assert response.status_code == 302
    owner.refresh_from_db()
    assert owner.full_name == "Dona"


def test_the_admin_refuses_posts_from_company_origins(make_user):
    staff = make_user(email="root@masteria.test", is_staff=True, is_superuser=True, password=TEST_PASSWORD)
    client, token = _csrf_client("localhost:8000", staff, "/admin/")
    response = client.post(
        f"/admin/tenants/user/{staff.pk}/delete/",
        {"post": "yes", "csrfmiddlewaretoken": token},
        HTTP_ORIGIN="http://acme.localhost:8000",
    )
    assert response.status_code == 403
    assert type(staff).objects.filter(pk=staff.pk).exists()


def test_no_wildcard_origin_is_trusted():
    assert not [origin for origin in settings.CSRF_TRUSTED_ORIGINS if "*" in origin]
