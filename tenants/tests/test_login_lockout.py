"""One lockout for every way in (audit H3, issue 11): the login form on any host, /admin/login/
and the API's token endpoint share one per-account counter, keyed by the lowercased email
whatever the host; a looser per-IP limit stops one address from trying many accounts without
letting one person's typos lock out everyone behind the same office NAT."""

from __future__ import annotations

import logging

import pytest
from django.conf import settings
from django.test import Client
from django.utils import translation

from tenants import lockout
from tests.conftest_helpers import TEST_PASSWORD


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def _form_login(client, email: str, password: str):
    return client.post("/accounts/login/", {"login": email, "password": password}, HTTP_ACCEPT_LANGUAGE="en")


def _admin_login(client, email: str, password: str):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": email, "password": password},
        HTTP_HOST=settings.BASE_DOMAIN,
        HTTP_ACCEPT_LANGUAGE="en",
    )


def _jwt(client, email: str, password: str):
    return client.post(
        "/api/v1/auth/token/",
        {"email": email, "password": password},
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="en",
    )


def _age_failures(*, seconds: float) -> None:
    """The test clock: every recorded failure happened ``seconds`` earlier."""
    from core.redis import redis_client

    client = redis_client()
    for key in client.scan_iter(match=lockout.KEY_PREFIX + "*"):
        client.zadd(key, {member: score - seconds for member, score in client.zrange(key, 0, -1, withscores=True)})


def _logged_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.fixture
def victim(make_member):
    return make_member("owner", email="alvo@acme.test")


@pytest.fixture
def tenant_client_factory(tenant_client_factory):
    """Clients that read English (company hosts speak the company's language otherwise)."""

    def make(company, user=None):
        client = tenant_client_factory(company, user)
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        return client

    return make


def _locked_message(seconds: int = 300, scope: str = "account") -> str:
    with translation.override("en"):
        return lockout.LockedOut(retry_after=seconds, scope=scope).message()


def test_form_lockout_holds_on_every_host_and_with_any_case(tenant_client_factory, acme, other_company, victim):
    acme_client = tenant_client_factory(acme)
    for _ in range(5):
        assert not _logged_in(acme_client) and _form_login(acme_client, victim.email, "wrong").status_code == 200
    # the right password, another company's host, the public host, upper case: all refused
    for client in (acme_client, tenant_client_factory(other_company), Client(HTTP_HOST=settings.BASE_DOMAIN)):
        response = _form_login(client, "ALVO@Acme.test", TEST_PASSWORD)
        assert not _logged_in(client)
        assert _locked_message() in response.content.decode()


def test_admin_login_is_locked_out_after_repeated_failures(client, make_user):
    staff = make_user(email="staff@masteria.test", is_staff=True, is_superuser=True)
    for _ in range(5):
        assert _admin_login(client, staff.email, "wrong").status_code == 200
    response = _admin_login(client, staff.email, TEST_PASSWORD)
    assert response.status_code == 200 and not _logged_in(client)
    assert _locked_message() in response.content.decode()


def test_jwt_endpoint_answers_429_with_retry_after(tenant_client_factory, acme, victim):
    api = tenant_client_factory(acme)
    assert {_jwt(api, victim.email, "wrong").status_code for _ in range(5)} == {401}
    response = _jwt(api, victim.email, TEST_PASSWORD)
    assert response.status_code == 429
    assert 290 <= int(response["Retry-After"]) <= 300
    assert response.json()["detail"] == _locked_message(int(response["Retry-After"]))
    assert "access" not in response.json()


def test_one_counter_for_form_admin_and_api(tenant_client_factory, acme, victim, client):
    # failures through three doors add up...
    api = tenant_client_factory(acme)
    for _ in range(2):
        _jwt(api, victim.email, "wrong")
    for _ in range(2):
        _form_login(tenant_client_factory(acme), victim.email, "wrong")
    _admin_login(client, victim.email, "wrong")
    # ...and lock all three
    assert _jwt(api, victim.email, TEST_PASSWORD).status_code == 429
    form = tenant_client_factory(acme)
    _form_login(form, victim.email, TEST_PASSWORD)
    assert not _logged_in(form)
    assert _locked_message() in _admin_login(client, victim.email, TEST_PASSWORD).content.decode()


def test_successful_logins_do_not_count(tenant_client_factory, acme, victim):
    api = tenant_client_factory(acme)
    for _ in range(20):
        assert _jwt(api, victim.email, TEST_PASSWORD).status_code == 200


def test_one_persons_typos_do_not_lock_out_the_office(tenant_client_factory, acme, victim, make_member):
    colleague = make_member("agent", email="colega@acme.test")
    office = tenant_client_factory(acme)  # everyone behind the same address
    for _ in range(6):
        _jwt(office, victim.email, "wrong")
    assert _jwt(office, victim.email, TEST_PASSWORD).status_code == 429
    assert _jwt(office, colleague.email, TEST_PASSWORD).status_code == 200
    form = tenant_client_factory(acme)
    _form_login(form, colleague.email, TEST_PASSWORD)
    assert _logged_in(form)


def test_one_address_cannot_try_many_accounts(tenant_client_factory, acme, victim):
    ip_rate = next(r for r in lockout.rates() if r.per == "ip")
    attacker = tenant_client_factory(acme)
    for n in range(ip_rate.amount):
        assert _jwt(attacker, f"guess{n}@acme.test", "wrong").status_code == 401
    response = _jwt(attacker, victim.email, TEST_PASSWORD)
    assert response.status_code == 429
    assert (
        response.json()["detail"] == lockout.LockedOut(retry_after=int(response["Retry-After"]), scope="ip").message()
    )
    # another address is not affected
    other_ip = tenant_client_factory(acme)
    other_ip.defaults["REMOTE_ADDR"] = "198.51.100.7"
    assert _jwt(other_ip, victim.email, TEST_PASSWORD).status_code == 200


def test_failures_older_than_the_window_are_forgotten(tenant_client_factory, acme, victim):
    api = tenant_client_factory(acme)
    for _ in range(5):
        _jwt(api, victim.email, "wrong")
    assert _jwt(api, victim.email, TEST_PASSWORD).status_code == 429
    _age_failures(seconds=301)  # five minutes and a second later
    assert _jwt(api, victim.email, TEST_PASSWORD).status_code == 200


def test_password_reset_lifts_the_account_lockout(public_client, tenant_client_factory, acme, victim):
    from urllib.parse import urlparse

    from django.core import mail

    api = tenant_client_factory(acme)
    for _ in range(5):
        _jwt(api, victim.email, "wrong")
    public_client.post("/accounts/password/reset/", {"email": victim.email})
    link = next(line for line in mail.outbox[-1].body.splitlines() if "/accounts/password/reset/key/" in line)
    form = public_client.get(urlparse(link.strip()).path, follow=True)
    public_client.post(form.redirect_chain[-1][0], {"password1": "Outra-senha-2026!", "password2": "Outra-senha-2026!"})
    assert _jwt(api, victim.email, "Outra-senha-2026!").status_code == 200


def test_lockouts_are_logged(tenant_client_factory, acme, victim, caplog):
    api = tenant_client_factory(acme)
    with caplog.at_level(logging.INFO, logger="tenants.lockout"):
        for _ in range(6):
            _jwt(api, victim.email, "wrong")
    locked = [r for r in caplog.records if r.name == "tenants.lockout" and r.levelno == logging.WARNING]
    assert len(locked) == 1
    assert victim.email in locked[0].getMessage() and "127.0.0.1" in locked[0].getMessage()
    assert "api" in locked[0].getMessage()
    assert TEST_PASSWORD not in caplog.text


def test_the_lockout_message_is_translated(tenant_client_factory, acme, victim):
    api = tenant_client_factory(acme)
    for _ in range(5):
        _jwt(api, victim.email, "wrong")
    form = Client(HTTP_HOST=f"{acme.slug}.{settings.BASE_DOMAIN}")  # acme speaks pt-BR
    response = form.post("/accounts/login/", {"login": victim.email, "password": TEST_PASSWORD})
    api_pt = Client(HTTP_HOST=f"{acme.slug}.{settings.BASE_DOMAIN}").post(
        "/api/v1/auth/token/", {"email": victim.email, "password": TEST_PASSWORD}, content_type="application/json"
    )
    with translation.override("pt-br"):
        expected = lockout.LockedOut(retry_after=300, scope="account").message()
        expected_api = lockout.LockedOut(retry_after=int(api_pt["Retry-After"]), scope="account").message()
    assert expected != _locked_message()
    assert expected in response.content.decode()
    assert api_pt.json()["detail"] == expected_api
