"""JWT revocation (audit H2): a refresh token dies when it is rotated, when the password changes
or is reset, when the email changes, when a membership ends, when the account is deactivated or
a social login is connected; nobody gets an API token for an email address they never proved."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest
from allauth.account.models import EmailAddress
from django.core import mail
from django.utils import translation

from tenants import services
from tenants.api.views import ERR_EMAIL_UNVERIFIED
from tenants.models import Membership, User
from tests.conftest_helpers import TEST_PASSWORD


@pytest.fixture(autouse=True)
def _english():
    with translation.override("en"):
        yield


def _tokens(client, email: str, password: str = TEST_PASSWORD) -> dict:
    response = client.post(
        "/api/v1/auth/token/", {"email": email, "password": password}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def _refresh(client, refresh: str):
    return client.post("/api/v1/auth/token/refresh/", {"refresh": refresh}, content_type="application/json")


def _me(client, access: str) -> int:
    return client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {access}").status_code


@pytest.fixture
def api(tenant_client_factory, acme):
    return tenant_client_factory(acme)


def test_a_rotated_refresh_token_cannot_be_used_again(api, owner):
    tokens = _tokens(api, owner.email)
    first = _refresh(api, tokens["refresh"])
    assert first.status_code == 200
    # the old refresh token was replaced by the new one: using it again fails
    assert _refresh(api, tokens["refresh"]).status_code == 401
    assert _refresh(api, first.json()["refresh"]).status_code == 200


def test_password_change_revokes_refresh_and_access_tokens(api, owner, tenant_client_factory, acme):
    tokens = _tokens(api, owner.email)
    browser = tenant_client_factory(acme)
    assert browser.post("/accounts/login/", {"login": owner.email, "password": TEST_PASSWORD}).status_code == 302
    response = browser.post(
        "/accounts/password/change/",
        {"oldpassword": TEST_PASSWORD, "password1": "Nova-senha-2026!", "password2": "Nova-senha-2026!"},
    )
    assert response.status_code == 302
    assert _refresh(api, tokens["refresh"]).status_code == 401
    assert _me(api, tokens["access"]) == 401
    # the new password gets working tokens
    assert _me(api, _tokens(api, owner.email, "Nova-senha-2026!")["access"]) == 200


def test_password_reset_revokes_a_token_taken_before_the_reset(api, public_client, make_user, acme):
    # given someone holds tokens of the account (the audit's pre-registered attacker)
    user = make_user(email="boss@victim.test")
    Membership.objects.create(user=user, company=acme, role="admin")
    tokens = _tokens(api, user.email)
    # when the real owner resets the password from the emailed link
    public_client.post("/accounts/password/reset/", {"email": user.email})
    link = next(line for line in mail.outbox[-1].body.splitlines() if "/accounts/password/reset/key/" in line)
    form = public_client.get(urlparse(link.strip()).path, follow=True)
    assert form.status_code == 200
    done = public_client.post(
        form.redirect_chain[-1][0], {"password1": "Dono-real-2026!", "password2": "Dono-real-2026!"}
    )
    assert done.status_code == 302
    # then the tokens taken before are worthless
    assert _refresh(api, tokens["refresh"]).status_code == 401
    assert _me(api, tokens["access"]) == 401


def test_email_change_revokes_tokens(api, owner):
    tokens = _tokens(api, owner.email)
    owner.email = "novo@acme.test"
    owner.save(update_fields=["email"])
    assert _refresh(api, tokens["refresh"]).status_code == 401
    assert _me(api, tokens["access"]) == 401


def test_membership_removal_revokes_tokens(api, acme, owner, make_member):
    agent = make_member("agent", email="agente@acme.test")
    tokens = _tokens(api, agent.email)
    services.membership_remove(
        membership=Membership.objects.get(user=agent, company=acme), by=Membership.objects.get(user=owner)
    )
    assert _refresh(api, tokens["refresh"]).status_code == 401


def test_deactivation_revokes_tokens_for_good(api, owner):
    tokens = _tokens(api, owner.email)
    services.user_deactivate(user=owner)
    assert _refresh(api, tokens["refresh"]).status_code == 401
    # reactivating the account does not bring the old tokens back
    User.objects.filter(pk=owner.pk).update(is_active=True)
    assert _refresh(api, tokens["refresh"]).status_code == 401
    assert _me(api, tokens["access"]) == 401


def test_deactivation_from_the_admin_revokes_tokens(api, acme, make_member, client):
    agent = make_member("agent", email="sai@acme.test")
    tokens = _tokens(api, agent.email)
    staff = User.objects.create_superuser(email="root@masteria.test", password=TEST_PASSWORD)
    client.force_login(staff)
    response = client.post(
        f"/admin/tenants/user/{agent.pk}/change/",
        {
            "email": agent.email,
            "full_name": "",
            "language": "",
            "is_active": "",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
        },
        HTTP_HOST="localhost",
    )
    assert response.status_code == 302, response.content[:2000]
    User.objects.filter(pk=agent.pk).update(is_active=True)
    assert _refresh(api, tokens["refresh"]).status_code == 401


def test_connecting_a_social_login_revokes_tokens(api, owner, tenant_client_factory, acme):
    from tests.stubs.oauth import OAuthStub

    tokens = _tokens(api, owner.email)
    stub = OAuthStub().start()
    try:
        stub.identity = {"sub": "g-owner", "email": owner.email, "email_verified": True, "name": "Owner"}
        browser = tenant_client_factory(acme, owner)
        response = browser.post("/accounts/google/login/", {"process": "connect"})
        state = parse_qs(urlparse(response["Location"]).query)["state"][0]
        browser.get("/accounts/google/login/callback/", {"code": "c", "state": state})
    finally:
        stub.stop()
    assert owner.socialaccount_set.filter(provider="google").exists()
    assert _refresh(api, tokens["refresh"]).status_code == 401


def test_no_api_token_for_an_unverified_email(api, acme):
    # given someone registered an address they do not own (verification is optional)
    user = User.objects.create_user(email="ceo@target.test", password=TEST_PASSWORD)
    EmailAddress.objects.create(user=user, email=user.email, verified=False, primary=True)
    Membership.objects.create(user=user, company=acme, role="owner")
    response = api.post(
        "/api/v1/auth/token/", {"email": user.email, "password": TEST_PASSWORD}, content_type="application/json"
    )
    assert response.status_code == 403
    assert response.json()["detail"] == ERR_EMAIL_UNVERIFIED
    assert "refresh" not in response.json()


def test_the_pre_account_takeover_of_the_audit_fails(public_client, tenant_client_factory, acme, owner):
    # 1. the attacker registers the victim's address and tries for tokens
    public_client.post(
        "/accounts/signup/",
        {"email": "boss@victim.test", "password1": "Atacante-123!", "password2": "Atacante-123!"},
    )
    api = tenant_client_factory(acme)
    attempt = api.post(
        "/api/v1/auth/token/",
        {"email": "boss@victim.test", "password": "Atacante-123!"},
        content_type="application/json",
    )
    assert attempt.status_code == 403
    # 2. an invitation to that address cannot be accepted by the unverified account
    user = User.objects.get(email="boss@victim.test")
    _invitation, token = services.invitation_create(
        company=acme, email=user.email, role="admin", by=Membership.objects.get(user=owner)
    )
    with (
        translation.override("en"),
        pytest.raises(services.ValidationError, match=re.escape(services.ERR_EMAIL_NOT_VERIFIED)),
    ):
        services.invitation_accept(token=token, user=user)
    assert not Membership.objects.filter(user=user).exists()


def test_invitation_link_verifies_the_address_at_sign_up(public_client, acme, owner):
    _invitation, token = services.invitation_create(
        company=acme, email="nova@acme.test", role="agent", by=Membership.objects.get(user=owner)
    )
    public_client.get(f"/invitations/{token}/")
    public_client.post(f"/invitations/{token}/")
    response = public_client.post(
        "/accounts/signup/",
        {"email": "nova@acme.test", "password1": "Nova-senha-123!", "password2": "Nova-senha-123!"},
    )
    assert response["Location"] == "/workspaces/acme/open/"
    user = User.objects.get(email="nova@acme.test")
    assert EmailAddress.objects.get(user=user).verified
    assert Membership.objects.get(user=user).company == acme


def test_logged_in_unverified_person_is_asked_to_confirm_before_joining(public_client, acme, owner):
    user = User.objects.create_user(email="lenta@acme.test", password=TEST_PASSWORD)
    EmailAddress.objects.create(user=user, email=user.email, verified=False, primary=True)
    _invitation, token = services.invitation_create(
        company=acme, email=user.email, role="agent", by=Membership.objects.get(user=owner)
    )
    public_client.force_login(user)
    mail.outbox.clear()
    response = public_client.post(f"/invitations/{token}/", follow=True, HTTP_ACCEPT_LANGUAGE="en")
    assert services.ERR_EMAIL_NOT_VERIFIED in response.content.decode()
    assert not Membership.objects.filter(user=user).exists()
    # a confirmation email went out to the address
    assert [m.to for m in mail.outbox] == [[user.email]]


def test_records_of_expired_refresh_tokens_are_flushed(api, owner):
    from datetime import timedelta

    from django.utils import timezone
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

    _tokens(api, owner.email)
    live = _tokens(api, owner.email)
    OutstandingToken.objects.exclude(jti__in=[_jti(live["refresh"])]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert services.tokens_flush_expired() == 1
    assert list(OutstandingToken.objects.values_list("jti", flat=True)) == [_jti(live["refresh"])]


def _jti(raw: str) -> str:
    from tenants.api.tokens import StampedRefreshToken

    return StampedRefreshToken(raw)["jti"]
