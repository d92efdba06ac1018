"""Account endpoints of the API: JWT tokens and who-am-I."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from tenants.api.base import TenantAPIView


class TokenObtainView(TokenObtainPairView):
    """Exchange email and password for an access and a refresh token."""

    permission_classes = ()
    authentication_classes = ()


class TokenRefreshView_(TokenRefreshView):
    permission_classes = ()
    authentication_classes = ()


class MeView(TenantAPIView):
    """The caller and their role in this company."""

    @extend_schema(
        responses=inline_serializer(
            "Me",
            {
                "company": serializers.CharField(),
                "role": serializers.CharField(),
                "email": serializers.EmailField(allow_null=True),
                "api_key": serializers.CharField(allow_null=True),
            },
        )
    )
    def get(self, request):
        principal = request.principal
        return Response(
            {
                "company": request._request.tenant.slug,
                "role": principal.role,
                "email": getattr(request.user, "email", None),
                "api_key": request.auth.prefix if principal.api_key_id else None,
            }
        )
