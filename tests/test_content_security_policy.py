"""Every page carries a strict Content-Security-Policy (audit H1): scripts only from our own
files (no inline script, no inline event handler, no eval), styles only from files; and the
pages give it nothing to block. Message media have a stricter policy of their own (a sandbox).
The browser tests (tests/browser) fail on any violation the real pages cause."""

from __future__ import annotations

import re

import pytest
from django.test import Client

INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.I)
INLINE_HANDLER = re.compile(r"<[^>]+\son[a-z]+\s*=", re.I)
INLINE_STYLE = re.compile(r"<[^>]+\sstyle\s*=", re.I)


def _directives(response) -> dict[str, str]:
    policy = response["Content-Security-Policy"]
    return {part.split()[0]: part for part in (p.strip() for p in policy.split(";")) if part}


def test_pages_get_a_policy_without_inline_script_or_eval(owner_client):
    directives = _directives(owner_client.get("/"))
    assert directives["script-src"] == "script-src 'self'"
    assert directives["style-src"] == "style-src 'self'"
    assert directives["object-src"] == "object-src 'none'"
    assert directives["base-uri"] == "base-uri 'none'"
    assert directives["frame-ancestors"] == "frame-ancestors 'none'"
    assert "ws://acme.localhost" in directives["connect-src"]


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/contacts/",
        "/imports/",
        "/settings/contacts/",
        "/inbox/",
        "/inbox/channels/",
        "/settings/members/",
        "/settings/api-keys/",
        "/settings/company/",
        "/settings/profile/",
        "/ui/",
        "/offline/",
        "/does-not-exist/",
    ],
)
def test_pages_hold_nothing_the_policy_would_block(owner_client, owner, path):
    owner.is_staff = True  # the interface kit page is for staff
    owner.save(update_fields=["is_staff"])
    response = owner_client.get(path)
    assert response.status_code in (200, 404), (path, response.status_code)
    html = response.content.decode()
    assert not INLINE_SCRIPT.search(html), INLINE_SCRIPT.search(html).group(0)
    assert not INLINE_HANDLER.search(html), INLINE_HANDLER.search(html).group(0)
    assert not INLINE_STYLE.search(html), INLINE_STYLE.search(html).group(0)


def test_the_public_pages_too(db):
    client = Client(HTTP_HOST="localhost")
    for path in ("/", "/accounts/login/", "/accounts/signup/"):
        response = client.get(path)
        html = response.content.decode()
        assert "script-src 'self'" in response["Content-Security-Policy"]
        assert not INLINE_SCRIPT.search(html) and not INLINE_HANDLER.search(html), path


def test_the_admin_and_the_api_docs_allow_their_own_inline_styles_only(owner_client, client, make_user):
    docs = owner_client.get("/api/v1/docs/")
    assert docs.status_code == 200 and not INLINE_SCRIPT.search(docs.content.decode())
    assert _directives(docs)["style-src"] == "style-src 'self' 'unsafe-inline'"
    assert _directives(docs)["script-src"] == "script-src 'self'"
    staff = make_user(email="root@masteria.test", is_staff=True, is_superuser=True)
    client.force_login(staff)
    admin = client.get("/admin/", HTTP_HOST="localhost")
    assert _directives(admin)["script-src"] == "script-src 'self'"
