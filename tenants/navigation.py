"""Workspace navigation: each domain app registers its entries in its ``AppConfig.ready``.

The shell renders only what is registered and what the member's role may see, so a feature
appears in the sidebar when its app is installed, never before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from tenants.roles import Role

if TYPE_CHECKING:
    from django_stubs_ext import StrPromise


@dataclass(frozen=True)
class NavItem:
    key: str  # stable id, also used to mark the active entry
    label: str | StrPromise  # lazy translated string
    url_name: str  # URL name in the tenant urlconf
    icon: str  # icon name from the shell's icon set
    order: int = 100
    min_role: str = Role.VIEWER
    section: str = "main"  # "main" or "settings"


_items: dict[str, NavItem] = {}


def register(item: NavItem) -> None:
    _items[item.key] = item


def items_for(role: str | None, section: str = "main") -> list[NavItem]:
    from tenants.roles import role_at_least

    return sorted(
        (i for i in _items.values() if i.section == section and role_at_least(role, i.min_role)),
        key=lambda i: (i.order, i.key),
    )
