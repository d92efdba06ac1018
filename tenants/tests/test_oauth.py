"""Google and Facebook login end to end against loopback stubs of their OAuth endpoints."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
from allauth.account.models import EmailAddress
from allauth.socialaccount.models import SocialAccount
from django.conf import settings

from tenants.models import User
from tests.stubs.oauth import OAuthStub


@pytest.fixture(scope="module")
def oauth_stub():
    stub = OAuthStub().start()
    yield stub
    stub.stop()


def _login_via(client, provider: str) -> str:
    response = client.post(f"/accounts/{provider}/login/")
    assert response.status_code == 302
    location = urlparse(response["Location"])
    assert location.netloc == f"127.0.0.1:{settings.OAUTH_STUB_PORT}"
    state = parse_qs(location.query)["state"][0]
    callback = client.get(f"/accounts/{provider}/login/callback/", {"code": "auth-code-1", "state": state})
    return callback


def test_google_login_creates_account(public_client, oauth_stub):
    # given Google vouches for a new person
    oauth_stub.identity = {
        "sub": "g-1001",
        "email": "maria@gmail.test",
        "email_verified": True,
        "name": "Maria Lima",
        "given_name": "Maria",
        "family_name": "Lima",
    }
    # when they log in with Google
    response = _login_via(public_client, "google")
    # then an account exists, linked, and they are sent to choose or create a company
    assert response.status_code == 302
    assert response["Location"] == "/workspaces/"
    user = User.objects.get(email="maria@gmail.test")
    assert user.full_name == "Maria Lima"
    assert SocialAccount.objects.filter(user=user, provider="google", uid="g-1001").exists()
    token_request = [r for r in oauth_stub.requests if r[1] == "/google/token"][-1]
    assert token_request[2]["code"] == "auth-code-1"


def test_google_links_existing_account_only_by_verified_email(public_client, make_user, oauth_stub):
    existing = make_user(email="joao@empresa.test")
    oauth_stub.identity = {"sub": "g-2002", "email": "joao@empresa.test", "email_verified": True, "name": "João"}
    response = _login_via(public_client, "google")
    assert response.status_code == 302
    assert SocialAccount.objects.get(provider="google", uid="g-2002").user == existing
    assert int(public_client.session["_auth_user_id"]) == existing.pk


def test_google_unverified_email_does_not_take_over_account(public_client, make_user, oauth_stub):
    existing = make_user(email="vitima@empresa.test")
    oauth_stub.identity = {"sub": "g-3003", "email": "vitima@empresa.test", "email_verified": False}
    _login_via(public_client, "google")
    assert not SocialAccount.objects.filter(user=existing).exists()
    assert public_client.session.get("_auth_user_id") in (None, "")


def test_facebook_login_creates_account(public_client, oauth_stub):
    oauth_stub.identity = {
        "id": "fb-77",
        "email": "carla@fb.test",
        "name": "Carla Dias",
        "first_name": "Carla",
        "last_name": "Dias",
    }
    response = _login_via(public_client, "facebook")
    assert response.status_code == 302
    user = User.objects.get(email="carla@fb.test")
    assert SocialAccount.objects.filter(user=user, provider="facebook", uid="fb-77").exists()
    me_request = [r for r in oauth_stub.requests if r[1] == "/facebook/me"][-1]
    assert me_request[2]["appsecret_proof"]


def test_facebook_email_is_not_trusted_for_linking(public_client, make_user, oauth_stub):
    # Facebook does not say an email is verified, so it never attaches to an existing account.
    existing = make_user(email="pedro@empresa.test")
    oauth_stub.identity = {"id": "fb-88", "email": "pedro@empresa.test", "name": "Pedro"}
    _login_via(public_client, "facebook")
    assert not SocialAccount.objects.filter(user=existing).exists()
    assert EmailAddress.objects.filter(email="pedro@empresa.test").count() == 1
