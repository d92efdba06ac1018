"""Workspace navigation: each domain app registers its entries in its ``AppConfig.ready``.

The shell renders only what is registered and what the member may see, so a feature appears in
the sidebar when its app is installed, never before. Who may see an entry is asked of the
request's principal (``principal.can(min_role)``, the permission layer's one question), so this
registry needs no app of its own to answer it. Other pages find an app's page by the entry's
key too (the dashboard's checklist links), instead of guessing URL names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from django.urls import NoReverseMatch, reverse

if TYPE_CHECKING:
    from django_stubs_ext import StrPromise


class Principal(Protocol):
    def can(self, minimum: str) -> bool: ...


@dataclass(frozen=True)
class NavItem:
    key: str  # stable id, also used to mark the active entry and to find the page
    label: str | StrPromise  # lazy translated string
    url_name: str  # URL name in the tenant urlconf
    icon: str  # icon name from the shell's icon set
    order: int = 100
    min_role: str = "viewer"  # a role value (tenants.roles.Role)
    section: str = "main"  # "main" or "settings"


_items: dict[str, NavItem] = {}


def register(item: NavItem) -> None:
    _items[item.key] = item


def _visible(item: NavItem, principal: Principal | None) -> bool:
    return principal is not None and principal.can(item.min_role)


def items_for(principal: Principal | None, section: str = "main") -> list[NavItem]:
    """The entries of ``section`` the principal may see, in menu order."""
    return sorted(
        (i for i in _items.values() if i.section == section and _visible(i, principal)),
        key=lambda i: (i.order, i.key),
    )


def entry_url(key: str, principal: Principal | None, **kwargs: Any) -> str | None:
    """The URL of the registered entry ``key`` when the principal may open it (``None`` when no
    app registered it, its page is not routed here, or the principal may not see it)."""
    item = _items.get(key)
    if item is None or not _visible(item, principal):
        return None
    try:
        return reverse(item.url_name, kwargs=kwargs or None)
    except NoReverseMatch:
        return None
