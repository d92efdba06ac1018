"""The one permission layer: pages and API ask the same question, "does this principal hold
at least role R in the current company?"."""

from __future__ import annotations

from dataclasses import dataclass
from functools import wraps

from django.core.exceptions import ImproperlyConfigured
from django.http import Http404, HttpResponseForbidden
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from tenants.roles import Role, role_at_least

ERR_FORBIDDEN = gettext_noop("Your role does not allow this action.")


@dataclass(frozen=True)
class Principal:
    """Who acts in a company: a member, a support staff member, or an API key."""

    role: str
    user_id: int | None = None
    api_key_id: int | None = None
    is_support: bool = False
    support_access_id: int | None = None  # the audit row of a support session

    def can(self, minimum: str) -> bool:
        return role_at_least(self.role, minimum)


# Named abilities so pages and API use the same rule for the same thing.
ABILITIES: dict[str, str] = {
    "workspace.view": Role.VIEWER,
    "workspace.work": Role.AGENT,
    "company.manage": Role.ADMIN,
    "members.manage": Role.ADMIN,
    "api_keys.manage": Role.ADMIN,
    # Renaming or deleting a tag changes every contact that carries it (pages and API alike;
    # agents still create tags while tagging a contact).
    "tags.manage": Role.ADMIN,
    "company.delete": Role.OWNER,
}


# Support staff read what an admin reads, but never create what would outlive their visit or
# change who holds the company (API keys, invitations, roles, members): these abilities are
# read-only in a support session.
SUPPORT_READ_ONLY = {"members.manage", "api_keys.manage", "company.delete"}
ERR_SUPPORT_READ_ONLY = gettext_noop("Support access cannot create API keys or invitations, nor change members.")


def can(principal: Principal | None, ability: str, *, write: bool = False) -> bool:
    if principal is None or not principal.can(ABILITIES[ability]):
        return False
    return not (write and principal.is_support and ability in SUPPORT_READ_ONLY)


def role_required(ability_or_role: str):
    """View decorator: the company member must hold the role (or ability).

    Anonymous users are sent to log in; authenticated non-members never get here (the
    membership middleware answers 404); members without the role get 403. A value that is
    neither an ability nor a role (a typo) fails here, when the view module is imported, not
    at the first request.
    """
    if ability_or_role in ABILITIES:
        minimum = ABILITIES[ability_or_role]
    elif ability_or_role in Role.values:
        minimum = ability_or_role
    else:
        raise ImproperlyConfigured(
            f"role_required({ability_or_role!r}): not an ability ({', '.join(ABILITIES)}) nor a role"
        )

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            principal: Principal | None = getattr(request, "principal", None)
            if not request.user.is_authenticated:
                return redirect(f"/accounts/login/?next={request.get_full_path()}")
            if principal is None:
                raise Http404
            if not principal.can(minimum):
                return HttpResponseForbidden(_(ERR_FORBIDDEN))
            if (
                principal.is_support
                and ability_or_role in SUPPORT_READ_ONLY
                and request.method not in ("GET", "HEAD", "OPTIONS")
            ):
                return HttpResponseForbidden(_(ERR_SUPPORT_READ_ONLY))
            return view(request, *args, **kwargs)

        wrapper.required_role = minimum  # type: ignore[attr-defined]
        return wrapper

    return decorator
