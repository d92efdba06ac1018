"""Account endpoints of the API: JWT tokens and who-am-I."""

from __future__ import annotations

from allauth.account.models import EmailAddress
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework_simplejwt.serializers import TokenObtainPairSerializer
from rest_framework_simplejwt.views import TokenObtainPairView, TokenRefreshView

from tenants import lockout
from tenants.api.base import TenantAPIView
from tenants.api.permissions import ERR_SUSPENDED
from tenants.api.tokens import StampedRefreshToken, StampedTokenRefreshSerializer

ERR_EMAIL_UNVERIFIED = _("Confirm your email address before using the API: we sent you a link when you signed up.")


class LoginLocked(exceptions.APIException):
    """429 with ``Retry-After`` (DRF's handler sets the header from ``wait``)."""

    status_code = 429
    default_code = "too_many_login_attempts"

    def __init__(self, locked: lockout.LockedOut):
        super().__init__(locked.message())
        self.wait = locked.retry_after


class TokenObtainSerializer(TokenObtainPairSerializer):
    """Email and password for a token pair, only for an address its owner has confirmed (else
    anyone could register someone else's address and hold tokens that reach every company that
    person later joins)."""

    token_class = StampedRefreshToken

    def validate(self, attrs):
        attrs = {**attrs, self.username_field: attrs[self.username_field].strip().lower()}
        try:
            attempt = lockout.begin(self.context["request"], attrs[self.username_field], via="api")
        except lockout.LockedOut as locked:
            raise LoginLocked(locked) from None
        try:
            data = super().validate(attrs)
        except exceptions.AuthenticationFailed:
            attempt.finish(success=False)
            raise
        attempt.finish(success=True)
        if not EmailAddress.objects.filter(user=self.user, email__iexact=self.user.email, verified=True).exists():
            raise exceptions.PermissionDenied(ERR_EMAIL_UNVERIFIED)
        return data


class CompanyOpenMixin:
    """No token is issued or renewed on the host of a suspended company."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
        tenant = getattr(request._request, "tenant", None)
        if tenant is not None and not tenant.is_active:
            raise exceptions.PermissionDenied(ERR_SUSPENDED)


class TokenObtainView(CompanyOpenMixin, TokenObtainPairView):
    """Exchange email and password for an access and a refresh token."""

    permission_classes = ()
    authentication_classes = ()
    serializer_class = TokenObtainSerializer  # type: ignore[assignment]


class TokenRefreshView_(CompanyOpenMixin, TokenRefreshView):
    """A new access token and a new refresh token; the refresh token sent works only once."""

    permission_classes = ()
    authentication_classes = ()
    serializer_class = StampedTokenRefreshSerializer  # type: ignore[assignment]


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
