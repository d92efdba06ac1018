"""Property-based: any query string on the list endpoints and pages (filters, sorts, sizes,
cursors, searches) is answered without a 500, and a refusal says why."""

from __future__ import annotations

import base64
import json

import pytest
from django.db import connection
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz import examples, json_values

pytestmark = pytest.mark.django_db

# What a URL can carry (no lone surrogates: they have no UTF-8 form), odd values included.
url_texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=20)
numbers = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(["0", "-1", "²", "١٢", "1e3", "1.5", " 1", "9" * 30, "none", ""]),
)
dates = st.one_of(st.dates().map(str), st.sampled_from(["2024-02-30", "0000-01-01", "99999-01-01", "hoje"]), url_texts)


def _cursor(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


cursors = st.one_of(
    st.builds(_cursor, st.lists(json_values, max_size=3)),
    st.builds(_cursor, st.tuples(json_values, st.integers(-(2**70), 2**70)).map(list)),
    st.builds(_cursor, json_values),
    url_texts,
)


def _params(keys: dict[str, st.SearchStrategy]) -> st.SearchStrategy:
    known = st.fixed_dictionaries({}, optional=keys)
    unknown = st.dictionaries(url_texts, url_texts, max_size=2)
    return st.builds(lambda a, b: {**b, **a}, known, unknown)


CONTACT_PARAMS = _params(
    {
        "q": url_texts,
        "sort": st.one_of(st.sampled_from(["-id", "id", "name", "-name", "-last_interaction"]), url_texts),
        "size": numbers,
        "after": cursors,
        "before": cursors,
        "tag": st.lists(numbers, max_size=3),
        "notag": st.lists(numbers, max_size=2),
        "tag_mode": st.sampled_from(["all", "any", "x"]),
        "consent": st.lists(st.one_of(st.sampled_from(["opted_in", "opted_out", "unknown"]), url_texts), max_size=2),
        "source": st.lists(url_texts, max_size=2),
        "owner": st.lists(st.one_of(numbers, st.just("none")), max_size=2),
        "segment": numbers,
        "list": numbers,
        "created_from": dates,
        "created_to": dates,
        "interaction_from": dates,
        "interaction_to": dates,
    }
)
CONVERSATION_PARAMS = _params(
    {
        "view": st.one_of(st.sampled_from(["mine", "unassigned", "all"]), url_texts),
        "status": st.one_of(st.sampled_from(["open", "pending", "resolved", "snoozed"]), url_texts),
        "channel": numbers,
        "label": numbers,
        "assignee": st.one_of(numbers, st.just("me"), st.just("none")),
        "q": url_texts,
        "cursor": url_texts,
        "page": numbers,
        "size": numbers,
    }
)


@pytest.fixture
def agent_client(tenant_client_factory, make_member, acme, tenant):
    from crm.tests.factories import ContactFactory

    for i in range(3):
        ContactFactory(name=f"Fuzz {i}")
    connection.set_schema_to_public()
    return tenant_client_factory(acme, make_member("agent", email="fuzz-agent@acme.test"))


def _check(response) -> None:
    assert response.status_code < 500
    if response.status_code >= 400 and response["Content-Type"].startswith("application/json"):
        assert response.json()  # says why


@examples(60)
@given(CONTACT_PARAMS)
def test_contact_list_api_and_page_with_any_query(agent_client, params):
    _check(agent_client.get("/api/v1/contacts/", params))
    _check(agent_client.get("/contacts/", params))


@examples(20)
@given(CONTACT_PARAMS)
def test_contact_count_with_any_query(agent_client, params):
    _check(agent_client.get("/contacts/count/", params))


@examples(40)
@given(CONVERSATION_PARAMS)
def test_inbox_lists_with_any_query(agent_client, params):
    _check(agent_client.get("/api/v1/inbox/conversations/", params))
    _check(agent_client.get("/inbox/list/", params))
    _check(agent_client.get("/api/v1/inbox/canned-responses/", {"q": params.get("q", "")}))
    _check(agent_client.get("/inbox/canned/", {"q": params.get("q", "")}))


def _list_urls() -> list[str]:
    """Every GET address of a company's host that takes no id: each app's pages and API lists."""
    from django.conf import settings as django_settings
    from django.urls import URLResolver, get_resolver

    def walk(patterns, prefix=""):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            else:
                yield prefix + str(pattern.pattern)

    skip = ("accounts/", "auth/", "api/v1/schema", "api/v1/docs", "i18n/", "ui/", "sw.js", "manifest", "offline")
    urls = set()
    for raw in walk(get_resolver(django_settings.ROOT_URLCONF).url_patterns):
        if "<" in raw or "(?P" in raw or raw.startswith(skip) or not raw:
            continue
        urls.add("/" + raw.replace("^", "").replace("$", ""))
    return sorted(urls)


LIST_URLS = _list_urls()
ANY_PARAMS = _params(
    {
        key: st.one_of(numbers, url_texts, dates, cursors)
        for key in ("q", "page", "size", "days", "sort", "status", "after", "before", "cursor", "kind", "since")
    }
)


def test_every_app_is_in_the_sweep():
    assert {"/ai/usage/", "/api/v1/ai/usage/", "/audiences/", "/inbox/", "/contacts/"} <= set(LIST_URLS)


@examples(80)
@given(st.sampled_from(LIST_URLS), ANY_PARAMS)
def test_every_page_and_api_list_with_any_query(owner_client, tenant, url, params):
    connection.set_schema_to_public()
    _check(owner_client.get(url, params))
