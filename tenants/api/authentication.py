"""API authentication: per-company API keys (``Authorization: Api-Key mia_…``)."""

from __future__ import annotations

import hmac

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions

from tenants.models import ApiKey

ERR_BAD_KEY = _("Invalid or revoked API key.")


class ApiKeyUser:
    """The principal of a request authenticated by an API key (not a person)."""

    is_authenticated = True
    is_anonymous = False
    is_active = True
    is_staff = False
    is_superuser = False
    pk = None
    id = None

    def __init__(self, api_key: ApiKey):
        self.api_key = api_key

    def __str__(self) -> str:
        return f"api-key:{self.api_key.prefix}"


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Api-Key"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode(errors="ignore")
        if not header.startswith(self.keyword + " "):
            return None
        raw = header[len(self.keyword) + 1 :].strip()
        parts = raw.split("_")
        if len(parts) < 3 or parts[0] != "mia":
            raise exceptions.AuthenticationFailed(ERR_BAD_KEY)
        key = ApiKey.objects.select_related("company").filter(prefix=parts[1], revoked_at=None).first()
        if key is None or not hmac.compare_digest(key.key_hash, ApiKey.hash_key(raw)):
            raise exceptions.AuthenticationFailed(ERR_BAD_KEY)
        # A key works only on its own company's domain: elsewhere it is as good as unknown.
        tenant = getattr(request._request, "tenant", None)
        if tenant is None or tenant.pk != key.company_id:
            raise exceptions.AuthenticationFailed(ERR_BAD_KEY)
        now = timezone.now()
        if key.last_used_at is None or (now - key.last_used_at).total_seconds() > 60:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        return ApiKeyUser(key), key

    def authenticate_header(self, request):
        return self.keyword
