"""Two-factor authentication (django-allauth's MFA: TOTP and recovery codes): enrolment, login
with a code computed here (RFC 6238), recovery codes, and the requirements (staff on the admin,
every member of a company whose owner requires it)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import struct
import time

import pytest
from allauth.mfa.models import Authenticator
from django.test import Client

from tests.conftest_helpers import TEST_PASSWORD

PUBLIC = {"HTTP_HOST": "localhost"}


@pytest.fixture(autouse=True)
def _mfa_settings(settings):
    # one period either side: a code computed at the end of a period is still good when posted
    settings.MFA_TOTP_TOLERANCE = 1


def totp(secret: str, at: float | None = None) -> str:
    """RFC 6238: HMAC-SHA1 of the 30-second counter, dynamically truncated to 6 digits."""
    counter = int((at if at is not None else time.time()) // 30)
    digest = hmac.new(base64.b32decode(secret, casefold=True), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def _client() -> Client:
    client = Client()
    client.cookies["django_language"] = "en"
    return client


def _password_login(client, user):
    return client.post("/accounts/login/", {"login": user.email, "password": TEST_PASSWORD}, **PUBLIC)


def _enrol(user) -> str:
    from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
    from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret

    secret = generate_totp_secret()
    TOTP.activate(user, secret)
    RecoveryCodes.activate(user)
    return secret


def _recovery_codes(user) -> list[str]:
    from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes

    return RecoveryCodes(
        Authenticator.objects.get(user=user, type=Authenticator.Type.RECOVERY_CODES)
    ).get_unused_codes()


def test_enrolment_from_the_account_pages(make_user):
    user = make_user(email="ana@example.com")
    client = _client()
    assert _password_login(client, user).status_code == 302
    # allauth asks for the password again before a security change
    page = client.get("/accounts/2fa/totp/activate/", **PUBLIC)
    assert page.status_code == 302 and page["Location"].startswith("/accounts/reauthenticate/")
    client.post(page["Location"], {"password": TEST_PASSWORD}, **PUBLIC)
    page = client.get("/accounts/2fa/totp/activate/", **PUBLIC)
    assert page.status_code == 200
    secret = page.context["form"].secret
    wrong = client.post("/accounts/2fa/totp/activate/", {"code": "000000"}, **PUBLIC)
    assert wrong.status_code == 200 and not Authenticator.objects.filter(user=user).exists()
    done = client.post("/accounts/2fa/totp/activate/", {"code": totp(secret)}, **PUBLIC)
    assert done.status_code == 302
    kinds = set(Authenticator.objects.filter(user=user).values_list("type", flat=True))
    assert kinds == {Authenticator.Type.TOTP, Authenticator.Type.RECOVERY_CODES}


def test_login_asks_for_the_code(make_user):
    user = make_user(email="bia@example.com")
    secret = _enrol(user)
    client = _client()
    response = _password_login(client, user)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/2fa/authenticate/")
    assert "_auth_user_id" not in client.session  # the password alone logs nobody in
    assert client.post("/accounts/2fa/authenticate/", {"code": "123456"}, **PUBLIC).status_code == 200
    assert "_auth_user_id" not in client.session
    assert client.post("/accounts/2fa/authenticate/", {"code": totp(secret)}, **PUBLIC).status_code == 302
    assert client.session["_auth_user_id"] == str(user.pk)


def test_a_recovery_code_logs_in_once(make_user):
    user = make_user(email="caio@example.com")
    _enrol(user)
    code = _recovery_codes(user)[0]
    first = _client()
    _password_login(first, user)
    assert first.post("/accounts/2fa/authenticate/", {"code": code}, **PUBLIC).status_code == 302
    assert first.session["_auth_user_id"] == str(user.pk)
    again = _client()
    _password_login(again, user)
    assert again.post("/accounts/2fa/authenticate/", {"code": code}, **PUBLIC).status_code == 200
    assert "_auth_user_id" not in again.session
    assert code not in _recovery_codes(user)


def test_staff_need_two_factors_for_the_admin(settings, make_user):
    settings.MFA_REQUIRED_FOR_STAFF = True
    staff = make_user(email="root@masteria.test", is_staff=True, is_superuser=True)
    # not enrolled: sent to set it up
    client = _client()
    client.force_login(staff)
    response = client.get("/admin/", **PUBLIC)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/2fa/totp/activate/")
    # enrolled, but this session logged in with the password only (the admin's own form)
    secret = _enrol(staff)
    password_only = _client()
    assert (
        password_only.post(
            "/admin/login/?next=/admin/", {"username": staff.email, "password": TEST_PASSWORD}, **PUBLIC
        ).status_code
        == 302
    )
    response = password_only.get("/admin/", **PUBLIC)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert "_auth_user_id" not in password_only.session
    # password and code: the admin opens
    full = _client()
    _password_login(full, staff)
    full.post("/accounts/2fa/authenticate/", {"code": totp(secret)}, **PUBLIC)
    assert full.get("/admin/", **PUBLIC).status_code == 200


def test_members_without_mfa_are_fine_until_the_owner_requires_it(
    settings, acme, other_company, owner, make_member, tenant_client_factory
):
    settings.MFA_REQUIRED_FOR_STAFF = True
    agent = make_member("agent", email="agente@acme.test")
    agent_client = tenant_client_factory(acme, agent)
    assert agent_client.get("/").status_code == 200  # optional by default
    # an admin cannot require it, the owner can
    admin = make_member("admin", email="admin@acme.test")
    refused = tenant_client_factory(acme, admin).post("/settings/company/security/", {"require_mfa": "on"})
    assert refused.status_code == 403
    owner_client = tenant_client_factory(acme, owner)
    assert owner_client.post("/settings/company/security/", {"require_mfa": "on"}).status_code == 302
    acme.refresh_from_db()
    assert acme.require_mfa
    response = agent_client.get("/")
    assert response.status_code == 302 and "/accounts/2fa/totp/activate/" in response["Location"]
    # the account pages stay open so they can set it up; once enrolled, the workspace opens
    _enrol(agent)
    assert agent_client.get("/").status_code == 200
    # another company's members are not concerned
    other_member = make_member("agent", company=other_company, email="outra@other.test")
    assert tenant_client_factory(other_company, other_member).get("/").status_code == 200


def _token(client, user, **extra):
    return client.post(
        "/api/v1/auth/token/",
        {"email": user.email, "password": TEST_PASSWORD, **extra},
        content_type="application/json",
    )


def test_the_api_token_asks_for_the_second_factor(acme, owner, tenant_client_factory):
    client = tenant_client_factory(acme)
    client.cookies["django_language"] = "en"
    assert _token(client, owner).status_code == 200  # no second factor yet: the password is enough
    secret = _enrol(owner)
    missing = _token(client, owner)
    assert missing.status_code == 401
    assert "authenticator app" in missing.json()["detail"]
    wrong = _token(client, owner, code="000000" if totp(secret) != "000000" else "111111")
    assert wrong.status_code == 401 and "not right" in wrong.json()["detail"]
    good = _token(client, owner, code=totp(secret))
    assert good.status_code == 200 and good.json()["access"]
    assert _token(client, owner, code=totp(secret)).status_code == 401  # a TOTP code works once
    recovery = _recovery_codes(owner)[0]
    assert _token(client, owner, code=recovery).status_code == 200
    assert _token(client, owner, code=recovery).status_code == 401  # and so does a recovery code


def test_a_wrong_second_factor_counts_toward_the_lockout(settings, acme, owner, tenant_client_factory):
    settings.LOGIN_FAILED_RATE = "3/5m/key,30/5m/ip"
    secret = _enrol(owner)
    client = tenant_client_factory(acme)
    for _ in range(3):
        assert _token(client, owner, code="12345x").status_code == 401
    locked = _token(client, owner, code=totp(secret))
    assert locked.status_code == 429 and locked["Retry-After"]


def test_a_company_that_requires_mfa_gives_no_token_without_it(acme, owner, make_member, tenant_client_factory):
    agent = make_member("agent", email="sem-2fa@acme.test")
    acme.require_mfa = True
    acme.save(update_fields=["require_mfa"])
    client = tenant_client_factory(acme)
    client.cookies["django_language"] = "en"
    refused = _token(client, agent)
    assert refused.status_code == 403 and "requires two-factor" in refused.json()["detail"]
    secret = _enrol(agent)
    assert _token(client, agent, code=totp(secret)).status_code == 200
