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
ERR_MFA_CODE_REQUIRED = _(
    "Two-factor authentication is on for this account: send the code from your authenticator app, "
    'or a recovery code, as "code".'
)
ERR_MFA_CODE_WRONG = _("That two-factor code is not right. Try the current code from your authenticator app.")
ERR_MFA_SETUP_REQUIRED = _(
    "This company requires two-factor authentication: set it up on your profile page before using the API."
)


class MfaCodeRequired(exceptions.AuthenticationFailed):
    default_code = "mfa_code_required"


def _second_factor(user, code: str) -> bool | None:
    """None when the account has no second factor; else whether ``code`` is a current TOTP code
    or an unused recovery code (each works once, as on the login page)."""
    from allauth.mfa.models import Authenticator

    authenticators = list(Authenticator.objects.filter(user=user).exclude(type=Authenticator.Type.WEBAUTHN))
    if not any(a.type == Authenticator.Type.TOTP for a in authenticators):
        return None
    return bool(code) and any(a.wrap().validate_code(code) for a in authenticators)


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

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["code"] = serializers.CharField(
            required=False,
            allow_blank=True,
            max_length=64,
            help_text=_("The two-factor code (or a recovery code), for an account that has two-factor authentication."),
        )

    def validate(self, attrs):
        code = str(attrs.pop("code", "") or "").strip()
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
        # The password was right; a second factor, when the account has one, is part of the same
        # attempt: a wrong code counts toward the lockout like a wrong password, a missing one
        # (the client asks for it next) does not.
        second = _second_factor(self.user, code)
        if second is False:
            attempt.finish(success=not code)
            raise MfaCodeRequired(ERR_MFA_CODE_WRONG if code else ERR_MFA_CODE_REQUIRED)
        attempt.finish(success=True)
        if not EmailAddress.objects.filter(user=self.user, email__iexact=self.user.email, verified=True).exists():
            raise exceptions.PermissionDenied(ERR_EMAIL_UNVERIFIED)
        tenant = getattr(self.context["request"], "tenant", None)
        if second is None and getattr(tenant, "require_mfa", False):
            raise exceptions.PermissionDenied(ERR_MFA_SETUP_REQUIRED)
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
