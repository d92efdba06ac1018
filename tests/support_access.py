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
    response = workspace_client.get(_local(response["Location"]))
    assert response.status_code == 302, response.status_code
    return workspace_client
