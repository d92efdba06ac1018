"""Bad input on the inbox's pages and API: a 4xx with a translated message, never a 500."""

from __future__ import annotations

import pytest
from django.db import connection

from core.middleware import ERR_NUL

NUL_SEARCHES = [
    "/api/v1/inbox/conversations/?q=Mar%00ia",
    "/api/v1/inbox/canned-responses/?q=%2Fo%00i",
    "/inbox/?q=Mar%00ia",
    "/inbox/list/?q=Mar%00ia",
    "/inbox/canned/?q=o%00i",
]


@pytest.mark.parametrize("url", NUL_SEARCHES)
def test_nul_byte_in_a_search_is_a_400_with_a_message(conversation, tenant_client_factory, make_member, acme, url):
    connection.set_schema_to_public()
    client = tenant_client_factory(acme, make_member("agent", email="agent@nul.test"))
    response = client.get(url)
    assert response.status_code == 400
    text = response.json()["detail"] if url.startswith("/api/") else response.content.decode()
    assert str(ERR_NUL) in text


def test_nul_byte_message_is_in_the_company_language(conversation, tenant_client_factory, make_member, acme):
    connection.set_schema_to_public()
    client = tenant_client_factory(acme, make_member("agent", email="agent2@nul.test"))
    client.cookies["django_language"] = "pt-br"
    response = client.get("/inbox/?q=a%00")
    assert response.status_code == 400 and "byte NUL" in response.content.decode()


def test_nul_byte_in_a_posted_form_changes_nothing(conversation, tenant_client_factory, make_member, acme):
    from inbox.models import Message

    connection.set_schema_to_public()
    client = tenant_client_factory(acme, make_member("agent", email="agent3@nul.test"))
    response = client.post(f"/inbox/c/{conversation.pk}/note/", {"body": "nota\x00secreta"})
    assert response.status_code == 400
    connection.set_tenant(acme)
    assert not Message.objects.filter(conversation=conversation).exists()


@pytest.mark.parametrize("value", ["²", "١٢", "9" * 30])
def test_numeric_filters_that_are_not_ascii_numbers(conversation, tenant_client_factory, make_member, acme, value):
    """ "²".isdigit() is true and int("²") fails: these filters answered 500."""
    connection.set_schema_to_public()
    client = tenant_client_factory(acme, make_member("admin", email=f"admin{len(value)}@nul.test"))
    for param in ("channel", "label", "assignee"):
        response = client.get("/api/v1/inbox/conversations/", {param: value})
        assert response.status_code == 200, param
    response = client.patch(f"/api/v1/inbox/agents/{value}/", {"capacity": 3}, content_type="application/json")
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("post", "/api/v1/inbox/conversations/null,null/assign/"),
        ("post", "/api/v1/inbox/conversations/abc/read/"),
        ("get", "/api/v1/inbox/conversations/1.5/"),
        ("delete", "/api/v1/inbox/labels/x/"),
        ("get", "/api/v1/contacts/null/"),
        ("patch", "/api/v1/tags/%C2%B2/"),
    ],
)
def test_an_id_that_is_not_a_number_is_a_404(tenant, tenant_client_factory, make_member, acme, method, url):
    """Found by schemathesis: the lookup failed in the database with a 500."""
    connection.set_schema_to_public()
    client = tenant_client_factory(acme, make_member("admin", email="admin-ids@nul.test"))
    response = getattr(client, method)(url, {}, content_type="application/json")
    assert response.status_code == 404
