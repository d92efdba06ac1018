"""JWTs for people, and how they are revoked.

Every token carries a *stamp*: an HMAC of what it was issued against (the user's token version,
password hash and email). Changing any of them, by whatever path (allauth's password change or
reset, the admin, ``changepassword``, a social login that wipes the password, an email change),
changes the stamp, so every token issued before is refused, access and refresh alike, exactly as
Django's session auth hash logs out sessions. What has no field of its own to change (membership
removal, deactivation, a social login connected) raises ``User.token_version``
(``tenants.services.user_tokens_revoke``).

On top of that, refresh tokens are single-use: a refresh rotates the token and blacklists the
one presented (simplejwt's ``token_blacklist``).
"""

from __future__ import annotations

import hmac

from django.db import transaction
from django.utils.crypto import salted_hmac
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import InvalidToken, TokenError
from rest_framework_simplejwt.serializers import TokenRefreshSerializer
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from tenants.models import User

STAMP_CLAIM = "stamp"
ERR_TOKEN_REVOKED = _("This token was revoked. Log in again.")


def token_stamp(user: User) -> str:
    value = f"{user.pk}:{user.token_version}:{user.password}:{user.email.lower()}"
    return salted_hmac("tenants.api.tokens.stamp", value, algorithm="sha256").hexdigest()[:32]


def stamp_matches(token, user: User) -> bool:
    return hmac.compare_digest(str(token.get(STAMP_CLAIM, "")), token_stamp(user))


class StampedRefreshToken(RefreshToken):
    """A refresh token (and the access tokens made from it) stamped for its user."""

    @classmethod
    def for_user(cls, user):
        token = super().for_user(user)
        token[STAMP_CLAIM] = token_stamp(user)
        return token


class StampedJWTAuthentication(JWTAuthentication):
    """simplejwt's authentication, refusing tokens whose stamp is no longer the user's."""

    def get_user(self, validated_token):
        user = super().get_user(validated_token)
        if not stamp_matches(validated_token, user):
            raise AuthenticationFailed(ERR_TOKEN_REVOKED, code="token_revoked")
        return user


class StampedTokenRefreshSerializer(TokenRefreshSerializer):
    """Refresh only a live token of a live user; the token presented is blacklisted by the
    rotation (``BLACKLIST_AFTER_ROTATION``), so it works once."""

    token_class = StampedRefreshToken

    def validate(self, attrs):
        try:
            refresh = self.token_class(attrs["refresh"])  # signature, expiry, blacklist
        except TokenError as exc:
            raise InvalidToken(exc.args[0]) from exc
        # Two refreshes racing with one token: the row lock lets the second see the first's
        # blacklisting, so one token yields one successor.
        with transaction.atomic():
            jti = refresh.payload.get(api_settings.JTI_CLAIM)
            OutstandingToken.objects.select_for_update().filter(jti=jti).first()
            try:
                refresh = self.token_class(attrs["refresh"])
            except TokenError as exc:
                raise InvalidToken(exc.args[0]) from exc
            user = User.objects.filter(pk=refresh.payload.get(api_settings.USER_ID_CLAIM)).first()
            if user is None or not user.is_active or not stamp_matches(refresh, user):
                refresh.blacklist()
                raise AuthenticationFailed(ERR_TOKEN_REVOKED, code="token_revoked")
            return super().validate(attrs)
