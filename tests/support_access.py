"""Entering a company as support staff, the way the admin does it (shared by tests)."""

from __future__ import annotations

from urllib.parse import urlsplit


def _local(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def enter_support(admin_client, workspace_client, staff, company, *, reason="Ticket #4321: campaign stuck", **extra):
    """Open ``company`` from the admin as ``staff`` and follow the redirects into the workspace
    client; returns the workspace client, now in a support session."""
    headers = {"HTTP_HOST": "localhost"}
    if extra.get("forwarded_for"):
        headers["HTTP_X_FORWARDED_FOR"] = extra["forwarded_for"]
    admin_client.force_login(staff)
    response = admin_client.post(f"/admin/tenants/company/{company.pk}/open/", {"reason": reason}, **headers)
    assert response.status_code == 302, response.status_code
    return cross(admin_client, workspace_client, response["Location"])


def cross(public_client, company_client, start_url: str):
    """Follow a crossing from its company-host start (``/auth/handoff/start/...``) to the end:
    nonce on the company host, ticket on the public host, the page's POST."""
    from urllib.parse import parse_qs

    response = company_client.get(_local(start_url))
    assert response.status_code == 302, response.status_code
    response = public_client.get(_local(response["Location"]), HTTP_HOST="localhost")
    assert response.status_code == 302 and "/auth/handoff/?t=" in response["Location"], response.status_code
    ticket = parse_qs(urlsplit(response["Location"]).query)["t"][0]
    response = company_client.post("/auth/handoff/", {"t": ticket})
    assert response.status_code == 302 and not response["Location"].startswith("/accounts/"), response
    return company_client
