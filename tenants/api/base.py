"""Base classes every domain app's API builds on."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from rest_framework import generics, views, viewsets

if TYPE_CHECKING:
    from rest_framework.permissions import _PermissionClass

from tenants.api.permissions import HasCompanyRole
from tenants.context import require_tenant_schema


class TenantAPIMixin:
    """Fails closed when no company schema is active, whatever a subclass overrides.

    ``initial`` runs before any handler or ``get_queryset`` (PostHog's guard), so a view that
    forgets a filter still cannot run in the public schema.
    """

    permission_classes: Sequence[_PermissionClass] = (HasCompanyRole,)

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
