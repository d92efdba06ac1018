"""The workspace shell and its pages: dashboard, settings pages, navigation, isolation."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tenants.models import ApiKey, Invitation, Membership
from tenants.views import MSG_INVITED, MSG_KEY_REVOKED, MSG_MEMBER_REMOVED, MSG_ROLE_CHANGED

pytestmark = pytest.mark.django_db


def tr(message: str) -> str:
    """A message constant as the (pt-br) company sees it."""
    from django.utils import translation

    with translation.override("pt-br"):
        return translation.gettext(message)


def test_dashboard_shows_real_numbers_and_next_steps(owner_client, make_member):
    make_member("agent")
    response = owner_client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-kpi="members">2<' in html
    # A new company is guided: the steps that are not done yet are listed.
    assert 'data-testid="next-steps"' in html
    assert 'data-step="invite" data-done="true"' in html
    assert "{#" not in html and "{%" not in html and "{{" not in html  # no template syntax leaks


def test_dashboard_empty_company_guides_to_invite(owner_client):
    html = owner_client.get("/").content.decode()
    assert 'data-kpi="members">1<' in html
    assert 'data-step="invite" data-done="false"' in html
    assert reverse("tenants:members") + "#invite" in html


def test_dashboard_steps_link_to_the_pages_their_apps_registered(owner_client):
    import re

    html = owner_client.get("/").content.decode()
    links = dict((key, href) for href, key in re.findall(r'<a href="([^"]+)"[^>]*data-step-action="([^"]+)"', html))
    assert links == {
        "channel": reverse("inbox:channels"),
        "contacts": reverse("crm:imports"),
        "invite": reverse("tenants:members") + "#invite",
    }


def test_shell_has_navigation_switcher_and_preferences(owner_client, acme):
    html = owner_client.get("/").content.decode()
    assert 'data-nav-item="dashboard"' in html
    assert 'aria-current="page"' in html
    assert 'data-nav-item="members"' in html and 'data-nav-item="api-keys"' in html
    assert f"/workspaces/{acme.slug}/open/" in html  # switcher goes through the public domain
    assert 'action="/i18n/setlang/"' in html
    assert 'data-testid="theme-toggle"' in html
    assert 'href="/manifest.webmanifest"' in html
    assert "support-banner" not in html


def test_viewer_navigation_hides_admin_pages(tenant_client_factory, acme, make_member):
    viewer = make_member("viewer")
    html = tenant_client_factory(acme, viewer).get("/").content.decode()
    assert 'data-nav-item="members"' in html
    assert 'data-nav-item="api-keys"' not in html
    assert 'data-nav-item="company"' not in html


def test_switcher_lists_only_my_companies(owner_client, other_company, make_user):
    stranger = make_user()
    Membership.objects.create(user=stranger, company=other_company, role="owner")
    html = owner_client.get("/").content.decode()
    assert 'data-workspace="acme"' in html
    assert 'data-workspace="other"' not in html


def test_members_page_lists_only_this_company(owner_client, other_company, make_user):
    outsider = make_user(email="outsider@other.test")
    Membership.objects.create(user=outsider, company=other_company, role="owner")
    html = owner_client.get(reverse("tenants:members")).content.decode()
    assert "owner@acme.test" in html
    assert "outsider@other.test" not in html


def test_members_search_and_htmx_region(owner_client, make_member):
    make_member("agent", email="bruna@acme.test", full_name="Bruna Alves")
    make_member("agent", email="carlos@acme.test")
    response = owner_client.get(
        reverse("tenants:members"), {"q": "bruna"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="members-table"
    )
    html = response.content.decode()
    assert 'id="members-table"' in html
    assert "<html" not in html  # only the region
    assert "bruna@acme.test" in html and "carlos@acme.test" not in html


def test_members_list_query_count_does_not_grow(owner_client, make_member, query_count):
    make_member("agent")
    # session, user, membership, count, page, invitations, switcher
    query_count.does_not_grow(
        owner_client, reverse("tenants:members"), grow=lambda: [make_member("agent") for _ in range(30)], most=8
    )


def test_dashboard_and_settings_query_counts(owner_client, make_member, query_count):
    def grow():
        for _ in range(10):
            make_member("agent")

    # 12, plus the company's plan and the one statement of its usage against the plan's limits
    query_count.does_not_grow(owner_client, "/", grow=grow, most=14)
    query_count.does_not_grow(owner_client, reverse("tenants:api-keys"), grow=grow, most=8)
    query_count.does_not_grow(owner_client, reverse("tenants:profile"), grow=grow, most=10)


def test_invite_member(owner_client, acme, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            reverse("tenants:members"), {"email": "nova@acme.test", "role": "agent"}, follow=True
        )
    assert Invitation.objects.filter(company=acme, email="nova@acme.test").exists()
    assert (tr(MSG_INVITED) % {"email": "nova@acme.test"}) in response.content.decode()
    assert len(mailoutbox) == 1


def test_invite_bad_email_shows_inline_error_and_changes_nothing(owner_client, acme):
    response = owner_client.post(reverse("tenants:members"), {"email": "not-an-email", "role": "agent"})
    html = response.content.decode()
    assert response.status_code == 200
    assert 'aria-invalid="true"' in html and "field-error" in html
    assert not Invitation.objects.filter(company=acme).exists()


def test_agent_cannot_invite_or_change_roles(tenant_client_factory, acme, make_member, owner):
    agent = make_member("agent")
    client = tenant_client_factory(acme, agent)
    assert client.post(reverse("tenants:members"), {"email": "x@acme.test", "role": "agent"}).status_code == 404
    owner_membership = Membership.objects.get(user=owner)
    assert (
        client.post(reverse("tenants:member-role", args=[owner_membership.pk]), {"role": "viewer"}).status_code == 403
    )
    assert client.post(reverse("tenants:member-remove", args=[owner_membership.pk])).status_code == 403
    html = client.get(reverse("tenants:members")).content.decode()
    assert 'id="invite"' not in html
    assert "remove-member" not in html


def test_change_role_and_remove_member(owner_client, acme, make_member):
    agent = make_member("agent")
    membership = Membership.objects.get(user=agent, company=acme)
    response = owner_client.post(reverse("tenants:member-role", args=[membership.pk]), {"role": "admin"}, follow=True)
    assert tr(MSG_ROLE_CHANGED) in response.content.decode()
    membership.refresh_from_db()
    assert membership.role == "admin"
    response = owner_client.post(reverse("tenants:member-remove", args=[membership.pk]), follow=True)
    assert tr(MSG_MEMBER_REMOVED) in response.content.decode()
    assert not Membership.objects.filter(pk=membership.pk).exists()


def test_cannot_touch_another_company_member(owner_client, other_company, make_user):
    outsider = make_user()
    membership = Membership.objects.create(user=outsider, company=other_company, role="agent")
    assert owner_client.post(reverse("tenants:member-role", args=[membership.pk]), {"role": "admin"}).status_code == 404
    assert owner_client.post(reverse("tenants:member-remove", args=[membership.pk])).status_code == 404
    membership.refresh_from_db()
    assert membership.role == "agent"


def test_api_key_created_once_and_revoked(owner_client, acme):
    response = owner_client.post(reverse("tenants:api-keys"), {"name": "ERP", "role": "agent"})
    html = response.content.decode()
    key = ApiKey.objects.get(company=acme, name="ERP")
    assert f"mia_{key.prefix}_" in html and 'data-testid="new-api-key"' in html
    assert response["Cache-Control"] == "no-store"
    # The full key is never shown again.
    html = owner_client.get(reverse("tenants:api-keys")).content.decode()
    assert 'data-testid="new-api-key"' not in html
    response = owner_client.post(reverse("tenants:api-key-revoke", args=[key.pk]), follow=True)
    assert tr(MSG_KEY_REVOKED) in response.content.decode()
    key.refresh_from_db()
    assert key.revoked_at is not None


def test_api_key_blank_name_is_rejected(owner_client, acme):
    response = owner_client.post(reverse("tenants:api-keys"), {"name": "", "role": "agent"})
    assert response.status_code == 200
    assert 'aria-invalid="true"' in response.content.decode()
    assert not ApiKey.objects.filter(company=acme).exists()


def test_api_keys_of_other_company_are_invisible(owner_client, other_company):
    from tenants import services

    key, _full = services.api_key_create(company=other_company, name="Other ERP", role="admin", by=None)
    assert "Other ERP" not in owner_client.get(reverse("tenants:api-keys")).content.decode()
    assert owner_client.post(reverse("tenants:api-key-revoke", args=[key.pk])).status_code == 404


def test_api_keys_page_needs_admin(tenant_client_factory, acme, make_member):
    agent = make_member("agent")
    assert tenant_client_factory(acme, agent).get(reverse("tenants:api-keys")).status_code == 403


def test_company_profile_saves_and_rejects_bad_time_zone(owner_client, acme):
    response = owner_client.post(
        reverse("tenants:company-profile"), {"name": "Acme Brasil", "time_zone": "Mars/Base", "locale": "pt-br"}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert 'aria-invalid="true"' in html
    acme.refresh_from_db()
    assert acme.name == "Acme Ltda"
    response = owner_client.post(
        reverse("tenants:company-profile"), {"name": "Acme Brasil", "time_zone": "America/Manaus", "locale": "en"}
    )
    assert response.status_code == 302
    acme.refresh_from_db()
    assert (acme.name, acme.time_zone, acme.locale) == ("Acme Brasil", "America/Manaus", "en")
    acme.name, acme.time_zone, acme.locale = "Acme Ltda", "America/Sao_Paulo", "pt-br"
    acme.save()


def test_profile_saves_name_and_language(owner_client, owner):
    response = owner_client.post(reverse("tenants:profile"), {"full_name": "Ana Souza", "language": "en"})
    assert response.status_code == 302
    owner.refresh_from_db()
    assert (owner.full_name, owner.language) == ("Ana Souza", "en")
    assert response.cookies["django_language"].value == "en"
    html = owner_client.get(reverse("tenants:profile")).content.decode()
    assert "Your profile was saved." in html  # now in English
    assert reverse("socialaccount_connections") in html
    assert reverse("account_change_password") in html


def test_profile_rejects_unknown_language(owner_client, owner):
    response = owner_client.post(reverse("tenants:profile"), {"full_name": "Ana", "language": "xx"})
    assert response.status_code == 200
    owner.refresh_from_db()
    assert owner.language == ""


def test_pages_follow_company_language(owner_client, acme):
    html = owner_client.get(reverse("tenants:members")).content.decode()
    assert "Membros" in html  # acme is pt-br by default
    owner_client.cookies["django_language"] = "en"
    assert "Members" in owner_client.get(reverse("tenants:members")).content.decode()


def test_support_banner_for_support_staff(tenant_client_factory, acme, make_user):
    from datetime import timedelta

    from django.utils import timezone

    from tenants.middleware import SUPPORT_SESSION_KEY
    from tenants.models import SupportAccess

    staff = make_user(is_staff=True, is_superuser=True)  # superusers hold the support permission
    access = SupportAccess.objects.create(
        staff=staff, company=acme, reason="ticket 123", expires_at=timezone.now() + timedelta(minutes=30)
    )
    client = tenant_client_factory(acme, staff)
    session = client.session
    session[SUPPORT_SESSION_KEY] = {acme.schema_name: access.pk}
    session.save()
    html = client.get("/").content.decode()
    assert 'data-testid="support-banner"' in html


def test_anonymous_is_sent_to_login(tenant_client_factory, acme):
    response = tenant_client_factory(acme).get(reverse("tenants:members"))
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


@pytest.mark.parametrize("path", ["/accounts/login/", "/accounts/signup/", "/accounts/password/reset/"])
def test_account_pages_render_on_public_and_company_domains(public_client, tenant_client_factory, acme, path):
    for client in (public_client, tenant_client_factory(acme)):
        response = client.get(path)
        assert response.status_code == 200
        assert 'id="main"' in response.content.decode()


def test_account_management_pages_inside_the_shell(owner_client):
    for name in ("account_change_password", "account_email", "socialaccount_connections"):
        html = owner_client.get(reverse(name)).content.decode()
        assert "data-account-page" in html and 'data-nav="main"' in html, name


def test_public_pages_render(public_client, owner):
    assert public_client.get("/").status_code == 200
    public_client.force_login(owner)
    html = public_client.get("/workspaces/").content.decode()
    assert 'data-workspace="acme"' in html


def test_big_counts_use_the_estimate_small_ones_are_exact(tenant, monkeypatch):
    from django.apps import apps
    from django.db import connection

    from tenants import views

    contact = apps.get_model("crm", "Contact")
    contact.objects.bulk_create([contact(name=f"C{i}", phone=f"+55119999900{i:02d}") for i in range(4)])
    # Small tables are counted exactly.
    monkeypatch.setattr(views, "EXACT_COUNT_LIMIT", 1000)
    assert views._count(contact.objects.all(), whole_table=True) == (contact.objects.count(), "exact")
    # Big ones: the planner's estimate (ANALYZE refreshes it, as autovacuum does).
    monkeypatch.setattr(views, "EXACT_COUNT_LIMIT", 2)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {contact._meta.db_table}")
    assert views._count(contact.objects.all(), whole_table=True) == (contact.objects.count(), "estimate")
    # Filtered counts stop at the limit and read "2+".
    assert views._count(contact.objects.filter(name__startswith="C")) == (2, "at_least")
    assert views._count(contact.objects.filter(name="C1")) == (1, "exact")


def test_account_management_pages_on_the_public_domain(public_client, owner):
    public_client.force_login(owner)
    html = public_client.get("/accounts/password/change/").content.decode()
    assert "data-account-page" in html and "oldpassword" in html
    assert 'data-nav="main"' not in html  # no workspace around it
