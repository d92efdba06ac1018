"""Base classes every domain app's API builds on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rest_framework import generics, views, viewsets

if TYPE_CHECKING:
    from rest_framework.permissions import _PermissionClass, _SupportsHasPermission

from tenants.api.permissions import HasCompanyRole
from tenants.context import require_tenant_schema


class TenantAPIMixin:
    """Fails closed when no company schema is active, whatever a subclass overrides.

    ``initial`` runs before any handler or ``get_queryset``, so a view that forgets a filter
    still cannot run in the public schema. Permissions are built in ``get_permissions`` with the
    membership check (``HasCompanyRole``) first and the view's own ``permission_classes`` after
    it, as PostHog's ``TeamAndOrgViewSetMixin`` does: a view that sets ``permission_classes``
    (as DRF invites) adds rules, it can never drop the membership check.
    """

    permission_classes: Sequence[_PermissionClass] = ()
    # Every id in the API is an integer: anything else in the URL is a 404 from the router, not
    # a lookup that fails in the database (``/conversations/null,null/assign/`` answered 500).
    lookup_value_regex = r"[0-9]+"

    def get_permissions(self) -> list[_SupportsHasPermission]:
        extra = [permission() for permission in self.permission_classes if permission is not HasCompanyRole]
        return [HasCompanyRole(), *extra]

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        require_tenant_schema()


class TenantAPIView(TenantAPIMixin, views.APIView):
    pass


class TenantGenericAPIView(TenantAPIMixin, generics.GenericAPIView):
    pass


class TenantViewSet(TenantAPIMixin, viewsets.GenericViewSet):
    pass


class TenantModelViewSet(TenantAPIMixin, viewsets.ModelViewSet):
    pass
