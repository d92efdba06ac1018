"""Links that upper apps add to a lower app's pages, without the lower app importing them.

The CRM's contact list shows, beside its own bulk actions, a link for each registered
``"contacts"`` entry ("Enrol in a cadence", ...): the link opens the upper app's page with the
list's selection (``contact=<id>`` for each selected row) or, for "all N matching", ``all=1``
and the list's own query string. One record's page shows the entries of its kind too: ``"contact"``
(the CRM's contact page) and ``"conversation"`` (the inbox's conversation panel) link to the
upper app's page with ``?contact=<id>`` or ``?conversation=<id>``. Apps register in
``AppConfig.ready``; who may see an entry is asked of the request's principal, as for the
navigation (``ui.navigation``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from django.urls import NoReverseMatch, reverse

from ui.navigation import Principal

if TYPE_CHECKING:
    from django_stubs_ext import StrPromise


@dataclass(frozen=True)
class RecordLink:
    key: str
    label: str | StrPromise
    url_name: str
    icon: str
    min_role: str = "agent"


@dataclass(frozen=True)
class ShownLink:
    key: str
    label: str | StrPromise
    url: str
    icon: str


_links: dict[str, dict[str, RecordLink]] = {}


# The kinds of one record's page, each with the query parameter that names the record.
RECORD_KINDS = ("contact", "conversation")


def register(kind: str, link: RecordLink) -> None:
    """Show ``link`` on the pages of ``kind``: ``"contacts"`` (the contact list's bulk bar),
    ``"contact"`` (a contact's page) or ``"conversation"`` (a conversation's panel)."""
    _links.setdefault(kind, {})[link.key] = link


def links_for(kind: str, principal: Principal | None, *, record: int | None = None) -> list[ShownLink]:
    """The entries of ``kind`` that ``principal`` may see; for one record's page (``record``
    given, ``kind`` one of ``RECORD_KINDS``) each URL names it: ``?contact=<id>``."""
    shown = []
    for link in sorted(_links.get(kind, {}).values(), key=lambda item: item.key):
        if principal is None or not principal.can(link.min_role):
            continue
        try:
            url = reverse(link.url_name)
        except NoReverseMatch:  # the app's pages are not routed here
            continue
        if record is not None and kind in RECORD_KINDS:
            url = f"{url}?{urlencode({kind: int(record)})}"
        shown.append(ShownLink(key=link.key, label=link.label, url=url, icon=link.icon))
    return shown
