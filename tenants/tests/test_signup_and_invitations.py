"""Sign-up creates user + company + schema + owner; invitations; login throttling; support."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import connection
from django.utils import timezone
from django_tenants.utils import schema_exists

from tenants import services
from tenants.models import Company, Domain, Invitation, Membership, SupportAccess, User
from tests.conftest_helpers import TEST_PASSWORD
from tests.support_access import cross


@pytest.fixture(autouse=True)
def _english():
    """Messages are asserted through their (English) constants."""
    from django.utils import translation

    with translation.override("en"):
        yield


@pytest.fixture
def signup_cleanup(django_db_blocker):
    """Sign-up clones a schema (DDL outlives the test transaction): drop what tests create."""
    yield
    with django_db_blocker.unblock():
        for name in ("c_padaria_do_ze", "c_minha_loja"):
            with connection.cursor() as cursor:
                cursor.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def test_signup_creates_company_schema_domain_and_owner(public_client, signup_cleanup):
    response = public_client.post(
        "/accounts/signup/",
        {
            "email": "ze@padaria.test",
            "full_name": "Zé",
            "company_name": "Padaria do Zé",
            "password1": "P4daria-segura!",
            "password2": "P4daria-segura!",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/workspaces/padaria-do-ze/open/"
    company = Company.objects.get(slug="padaria-do-ze")
    assert company.schema_name == "c_padaria_do_ze"
    assert schema_exists("c_padaria_do_ze")
    assert Domain.objects.filter(tenant=company, domain="padaria-do-ze.localhost").exists()
    assert Membership.objects.get(company=company).role == "owner"
    assert company.time_zone == "America/Sao_Paulo"
    # a verification email goes out
    assert any("ze@padaria.test" in m.to for m in mail.outbox)

    # following the redirect hands the session over to the company's own domain
    handoff = public_client.get(response["Location"])
    assert handoff.status_code == 302
    assert handoff["Location"].startswith("http://padaria-do-ze.localhost:8000/auth/handoff/start/?")


def test_handoff_ticket_works_once_and_only_for_its_company_and_browser(client, acme, owner):
    nonce = services.handoff_nonce()
    ticket = services.handoff_ticket(user=owner, company=acme, browser=services.handoff_browser(nonce))
    assert services.handoff_redeem(ticket, schema_name="c_other", nonce=nonce) is None
    assert services.handoff_redeem(ticket, schema_name="c_acme", nonce=services.handoff_nonce()) is None
    assert services.handoff_redeem(ticket, schema_name="c_acme", nonce=nonce).user == owner
    assert services.handoff_redeem(ticket, schema_name="c_acme", nonce=nonce) is None


def test_company_slug_rules(db):
    with pytest.raises(ValidationError):
        services.validate_slug("-bad")
    with pytest.raises(ValidationError):
        services.validate_slug("admin")
    with pytest.raises(ValidationError):
        services.validate_slug("acme")
    assert services.suggest_slug("Acme Ltda") == "acme-ltda"
    assert services.suggest_slug("Acme") == "acme-2"


def test_invitation_flow_for_a_new_person(owner_client, public_client, acme, owner, django_capture_on_commit_callbacks):
    # given an owner invites a colleague (the email leaves once the transaction commits)
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post("/settings/members/", {"email": "Bia@Acme.test", "role": "agent"})
    assert response.status_code == 302
    invitation = Invitation.objects.get(company=acme, email="bia@acme.test")
    assert invitation.is_pending
    link = next(line for line in mail.outbox[-1].body.splitlines() if "/invitations/" in line)
    token = link.rsplit("/invitations/", 1)[1].strip("/ ")
    # when the colleague opens the link and signs up (no company is created for them)
    assert public_client.get(f"/invitations/{token}/").status_code == 200
    public_client.post(f"/invitations/{token}/")
    response = public_client.post(
        "/accounts/signup/",
        {"email": "bia@acme.test", "password1": "Bia-senha-123!", "password2": "Bia-senha-123!"},
    )
    # then they are an agent of acme and nothing else
    user = User.objects.get(email="bia@acme.test")
    assert Membership.objects.get(user=user).company == acme
    assert Membership.objects.get(user=user).role == "agent"
    assert response["Location"] == "/workspaces/acme/open/"
    invitation.refresh_from_db()
    assert invitation.accepted_at is not None


def test_invitation_for_another_email_or_expired_is_refused(acme, owner, make_user):
    by = Membership.objects.get(user=owner, company=acme)
    invitation, token = services.invitation_create(company=acme, email="x@acme.test", role="viewer", by=by)
    with pytest.raises(ValidationError, match=re.escape(services.ERR_INVITATION_EMAIL)):
        services.invitation_accept(token=token, user=make_user(email="y@acme.test"))
    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(minutes=1))
    with pytest.raises(ValidationError, match=re.escape(services.ERR_INVITATION_INVALID)):
        services.invitation_accept(token=token, user=make_user(email="x@acme.test"))


def test_inviting_an_existing_member_is_refused(acme, owner):
    by = Membership.objects.get(user=owner, company=acme)
    with pytest.raises(ValidationError, match=re.escape(services.ERR_ALREADY_MEMBER)):
        services.invitation_create(company=acme, email=owner.email, role="agent", by=by)


def test_login_is_throttled_after_repeated_failures(public_client, make_user):
    user = make_user(email="alvo@acme.test")
    for _ in range(5):
        public_client.post("/accounts/login/", {"login": user.email, "password": "wrong"})
    response = public_client.post("/accounts/login/", {"login": user.email, "password": TEST_PASSWORD})
    # even the right password is refused during the lockout window
    assert "_auth_user_id" not in public_client.session
    assert response.status_code in (200, 429)


def test_support_access_is_audited(client, acme, make_user, tenant_client_factory):
    staff = make_user(email="suporte@masteria.test", is_staff=True, is_superuser=True)
    client.force_login(staff)
    page = client.get(f"/admin/tenants/company/{acme.pk}/open/", HTTP_HOST="localhost")
    assert page.status_code == 200
    # a reason is mandatory
    refused = client.post(f"/admin/tenants/company/{acme.pk}/open/", {"reason": "x"}, HTTP_HOST="localhost")
    assert refused.status_code == 200
    assert not SupportAccess.objects.exists()
    response = client.post(
        f"/admin/tenants/company/{acme.pk}/open/", {"reason": "Ticket #4321: campaign stuck"}, HTTP_HOST="localhost"
    )
    assert response.status_code == 302
    access = SupportAccess.objects.get()
    assert (access.staff, access.company, access.reason) == (staff, acme, "Ticket #4321: campaign stuck")
    # the ticket opens the workspace for this staff member, with a support principal
    workspace = cross(client, tenant_client_factory(acme), response["Location"])
    assert workspace.get("/settings/members/").status_code == 200


def test_staff_without_support_access_gets_404(tenant_client_factory, acme, make_user):
    staff = make_user(email="staff2@masteria.test", is_staff=True)
    assert tenant_client_factory(acme, staff).get("/").status_code == 404


def test_signup_from_an_invitation_does_not_ask_for_a_company(public_client, acme, owner):
    from tenants import services as tenant_services

    assert 'name="company_name"' in public_client.get("/accounts/signup/").content.decode()
    by = Membership.objects.get(user=owner, company=acme)
    _invitation, token = tenant_services.invitation_create(company=acme, email="cai@acme.test", role="agent", by=by)
    public_client.get(f"/invitations/{token}/")
    page = public_client.get("/accounts/signup/").content.decode()
    assert 'name="company_name"' not in page
    assert 'value="cai@acme.test"' in page
    # and a company name sent anyway creates nothing
    response = public_client.post(
        "/accounts/signup/",
        {
            "email": "cai@acme.test",
            "company_name": "Outra",
            "password1": "Cai-senha-123!",
            "password2": "Cai-senha-123!",
        },
    )
    assert response.status_code == 302
    assert not Company.objects.filter(name="Outra").exists()
    assert Membership.objects.get(user__email="cai@acme.test").company == acme
