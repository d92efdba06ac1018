"""Roles of a member in a company, ordered from most to least powerful."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    OWNER = "owner", _("Owner")
    ADMIN = "admin", _("Admin")
    AGENT = "agent", _("Agent")
    VIEWER = "viewer", _("Viewer")


_RANK = {Role.OWNER: 40, Role.ADMIN: 30, Role.AGENT: 20, Role.VIEWER: 10}


def role_at_least(role: str | None, minimum: str) -> bool:
    """True when ``role`` grants everything ``minimum`` grants."""
    if role is None:
        return False
    return _RANK[Role(role)] >= _RANK[Role(minimum)]


def assignable_roles(by_role: str) -> list[str]:
    """Roles a member with ``by_role`` may give: owners any, admins up to admin, others none."""
    if by_role == Role.OWNER:
        return [r.value for r in Role]
    if by_role == Role.ADMIN:
        return [Role.ADMIN.value, Role.AGENT.value, Role.VIEWER.value]
    return []
