"""Crossing from the public domain to a company's host (audit L4): the one-time ticket works only
in the browser that asked for it and only through a POST, so nobody can log a victim in as
themselves (login CSRF) by sending a link, and a link preview cannot spend a ticket."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.test import Client

from tenants import services


def _local(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _host(url: str) -> str:
    return urlsplit(url).netloc


def open_workspace(public: Client, company_client: Client, slug: str, next_path: str = "/"):
    """Follow the whole crossing; returns the company host's last response."""
    # the public host sends the browser to the company host for a nonce of its own...
    response = public.get(f"/workspaces/{slug}/open/", {"next": next_path})
    assert response.status_code == 302 and "/auth/handoff/start/" in response["Location"]
    response = company_client.get(_local(response["Location"]))
    assert response.status_code == 302 and _host(response["Location"]).startswith("localhost")
    # ...and back, where the ticket is minted for that nonce
    response = public.get(_local(response["Location"]))
    assert response.status_code == 302 and "/auth/handoff/?t=" in response["Location"]
    ticket_url = _local(response["Location"])
    page = company_client.get(ticket_url)
    return page, parse_qs(urlsplit(ticket_url).query)["t"][0]


def _logged_in(client: Client):
    return client.session.get("_auth_user_id")


def test_the_crossing_logs_in_the_browser_that_asked(owner, acme):
    public = Client(HTTP_HOST=settings.BASE_DOMAIN)
    public.force_login(owner)
    company = Client(HTTP_HOST=f"acme.{settings.BASE_DOMAIN}")
    page, ticket = open_workspace(public, company, "acme", "/settings/profile/")
    # the GET only shows a form that the page submits: nothing is spent or logged in yet
    assert page.status_code == 200 and not _logged_in(company)
    assert 'method="post"' in page.content.decode() and "data-submit-now" in page.content.decode()
    response = company.post("/auth/handoff/", {"t": ticket})
    assert response.status_code == 302 and response["Location"] == "/settings/profile/"
    assert _logged_in(company) == str(owner.pk)
    # one use only
    assert company.post("/auth/handoff/", {"t": ticket})["Location"].startswith("/accounts/login/")


def test_an_attackers_ticket_does_not_log_in_a_victims_browser(make_member, acme):
    # the attacker walks the crossing in their own browser, but does not submit the ticket...
    attacker = make_member("owner", email="attacker@acme.test")
    public = Client(HTTP_HOST=settings.BASE_DOMAIN)
    public.force_login(attacker)
    _page, ticket = open_workspace(public, Client(HTTP_HOST=f"acme.{settings.BASE_DOMAIN}"), "acme")
    # ...and sends it to the victim, whose browser opens and even submits it
    victim = Client(HTTP_HOST=f"acme.{settings.BASE_DOMAIN}")
    victim.get(f"/auth/handoff/?t={ticket}")
    response = victim.post("/auth/handoff/", {"t": ticket})
    assert not _logged_in(victim)
    assert response["Location"].startswith("/accounts/login/")


def test_a_get_never_spends_a_ticket(owner, acme):
    public = Client(HTTP_HOST=settings.BASE_DOMAIN)
    public.force_login(owner)
    company = Client(HTTP_HOST=f"acme.{settings.BASE_DOMAIN}")
    _page, ticket = open_workspace(public, company, "acme")
    for _ in range(3):  # a link preview, a prefetch, a reload
        assert company.get(f"/auth/handoff/?t={ticket}").status_code == 200
    assert not _logged_in(company)
    assert company.post("/auth/handoff/", {"t": ticket}).status_code == 302
    assert _logged_in(company) == str(owner.pk)


def test_a_ticket_is_only_for_its_company(owner, acme, other_company):
    from tenants.models import Membership

    Membership.objects.create(user=owner, company=other_company, role="agent")
    public = Client(HTTP_HOST=settings.BASE_DOMAIN)
    public.force_login(owner)
    acme_client = Client(HTTP_HOST=f"acme.{settings.BASE_DOMAIN}")
    _page, ticket = open_workspace(public, acme_client, "acme")
    other = Client(HTTP_HOST=f"other.{settings.BASE_DOMAIN}")
    other.cookies = acme_client.cookies
    other.post("/auth/handoff/", {"t": ticket})
    assert not _logged_in(other)


def test_non_members_get_no_ticket(make_user, acme):
    stranger = make_user(email="estranho@example.com")
    public = Client(HTTP_HOST=settings.BASE_DOMAIN)
    public.force_login(stranger)
    assert public.get("/workspaces/acme/open/", {"b": "x" * 64}).status_code == 404


def test_the_users_language_follows_them_to_the_company_host(owner, acme):
    services.user_update_profile(user=owner, full_name="", language="en")
    public = Client(HTTP_HOST=settings.BASE_DOMAIN)
    public.force_login(owner)
    company = Client(HTTP_HOST=f"acme.{settings.BASE_DOMAIN}")
    _page, ticket = open_workspace(public, company, "acme")
    response = company.post("/auth/handoff/", {"t": ticket})
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
