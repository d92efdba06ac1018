"""DRF side of the permission layer (see ``tenants.permissions``)."""

from __future__ import annotations

from django.http import Http404
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS, BasePermission

from tenants.models import ApiKey, Membership
from tenants.permissions import Principal
from tenants.roles import Role

ERR_SUSPENDED = _("This workspace is suspended.")


def resolve_principal(request) -> Principal | None:
    """Who acts on this company: the API key, or the member behind the JWT/session user."""
    tenant = getattr(request._request, "tenant", None) if hasattr(request, "_request") else None
    if tenant is None or tenant.schema_name == "public":
        return None
    if isinstance(request.auth, ApiKey):
        if request.auth.company_id != tenant.pk:
            return None
        return Principal(role=request.auth.role, api_key_id=request.auth.pk)
    user = request.user
    if not user or not user.is_authenticated:
        return None
    cached = getattr(request._request, "principal", None)
    if cached is not None and cached.user_id == user.pk:
        return cached
    membership = Membership.objects.filter(user=user, company=tenant).only("role").first()
    if membership is None:
        return None
    return Principal(role=membership.role, user_id=user.pk)


class HasCompanyRole(BasePermission):
    """Default permission of every API view.

    Fails closed: no company (public domain) or not a member means 404, so another company's
    API looks exactly like a missing one. Reads need ``read_role`` (viewer by default), writes
    ``write_role`` (agent by default); a view may set either attribute.
    """

    def has_permission(self, request, view) -> bool:
        if getattr(view, "public_endpoint", False):
            return True
        if not request.user or not request.user.is_authenticated:
            return False  # DRF answers 401 with the authenticate header
        principal = resolve_principal(request)
        if principal is None:
            raise Http404
        request.principal = principal
        if not request._request.tenant.is_active and not principal.is_support:
            # Suspended (unpaid, abuse): integrations stop too, not only the pages.
            raise PermissionDenied(ERR_SUSPENDED)
        if request.method in SAFE_METHODS:
            minimum = getattr(view, "read_role", Role.VIEWER)
        else:
            minimum = getattr(view, "write_role", Role.AGENT)
        return principal.can(minimum)
