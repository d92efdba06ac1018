"""Request middleware: health checks, company locale/time zone, and membership (fail closed)."""

from __future__ import annotations

import logging
import zoneinfo

from django.conf import settings
from django.http import Http404, HttpResponse, HttpResponseForbidden, JsonResponse
from django.utils import timezone
from django.utils.deprecation import MiddlewareMixin
from django.utils.translation import gettext_noop

from tenants.models import Membership, SupportAccess, SupportAction
from tenants.permissions import Principal

logger = logging.getLogger(__name__)

SUPPORT_SESSION_KEY = "support_access"
SUPPORT_PERMISSION = "tenants.open_workspace"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class HealthCheckMiddleware:
    """Answers ``/healthz`` and ``/readyz`` before tenant routing, whatever the Host."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path == "/healthz":
            return HttpResponse("ok", content_type="text/plain")
        if request.path == "/readyz":
            return readiness()
        return self.get_response(request)


def readiness() -> JsonResponse:
    """Database and Redis reachable? Which error it was goes to the log, not to whoever asks
    (the endpoint answers on every host, unauthenticated)."""
    from django.db import connection

    from core.redis import redis_client

    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception:  # noqa: BLE001 - any failure means not ready
        logger.exception("readiness: database check failed")
        checks["database"] = "error"
    try:
        redis_client().ping()  # the process's pooled client, not a new connection per probe
        checks["redis"] = "ok"
    except Exception:  # noqa: BLE001
        logger.exception("readiness: redis check failed")
        checks["redis"] = "error"
    ready = all(v == "ok" for v in checks.values())
    return JsonResponse({"ready": ready, "checks": checks}, status=200 if ready else 503)


def is_public_request(request) -> bool:
    tenant = getattr(request, "tenant", None)
    return tenant is None or tenant.schema_name == "public"


class CompanyLocaleMiddleware(MiddlewareMixin):
    """Activate the company's time zone, and its language unless the user chose one."""

    def process_request(self, request):
        tenant = getattr(request, "tenant", None)
        if tenant is None or tenant.schema_name == "public":
            timezone.activate(zoneinfo.ZoneInfo(settings.TIME_ZONE))
            return
        timezone.activate(zoneinfo.ZoneInfo(tenant.time_zone))
        if settings.LANGUAGE_COOKIE_NAME not in request.COOKIES:
            # LocaleMiddleware runs next; give it the company default through the header it reads.
            request.META["HTTP_ACCEPT_LANGUAGE"] = tenant.locale


class MembershipMiddleware(MiddlewareMixin):
    """On a company domain, find who the user is there. Fails closed: an authenticated user
    who is not a member (and no valid support access) gets 404, as if the company did not
    exist. Anonymous users pass through; views decide (login redirect, public webhooks)."""

    OPEN_PREFIXES = (
        "/accounts/",
        "/static/",
        "/api/",
        "/auth/handoff/",
        "/manifest",
        "/sw.js",
        "/offline/",
        "/i18n/",
        "/webhooks/",
        "/healthz",
        "/readyz",
        "/l/",  # campaign link redirects: anyone who got the message may open them
    )

    def process_request(self, request):
        request.principal = None
        request.membership = None
        if is_public_request(request):
            return None
        tenant = request.tenant
        user = request.user
        if user.is_authenticated:
            membership = Membership.objects.filter(user=user, company=tenant).only("id", "role", "user_id").first()
            if membership is not None:
                request.membership = membership
                request.principal = Principal(role=membership.role, user_id=user.pk)
            elif user.is_staff and (access_id := self._support_access(request)):
                request.principal = Principal(
                    role="admin", user_id=user.pk, is_support=True, support_access_id=access_id
                )
        if not tenant.is_active and request.principal is not None and not request.principal.is_support:
            # A page that says what happened and that nothing is lost (the API answers 403 too).
            from django.template.loader import render_to_string

            html = render_to_string("tenants/suspended.html", {"company": tenant}, request=request)
            return HttpResponseForbidden(html)
        if user.is_authenticated and request.principal is None:
            if request.path.startswith(self.OPEN_PREFIXES):
                return None
            raise Http404("not a member")
        return None

    def process_response(self, request, response):
        """Every change made in a support session goes to the audit log, and so does every page
        read (not the live partials a page polls, nor static files)."""
        principal = getattr(request, "principal", None)
        if principal is not None and principal.support_access_id and self._audited(request):
            SupportAction.objects.create(
                access_id=principal.support_access_id,
                method=request.method[:10],
                path=request.path[:500],
                status=response.status_code,
            )
        return response

    @staticmethod
    def _audited(request) -> bool:
        if request.method not in SAFE_METHODS:
            return True
        return (
            request.method == "GET"
            and not request.headers.get("HX-Request")
            and not request.path.startswith(("/static/", "/i18n/", "/sw.js", "/manifest"))
        )

    @staticmethod
    def _support_access(request) -> int | None:
        """The id of the staff member's live support access to this company: granted by the
        support ticket, within its window, and only while they hold the support permission."""
        access_id = request.session.get(SUPPORT_SESSION_KEY, {}).get(request.tenant.schema_name)
        if not access_id or not request.user.has_perm(SUPPORT_PERMISSION):
            return None
        live = SupportAccess.objects.filter(
            pk=access_id, staff=request.user, company=request.tenant, expires_at__gt=timezone.now()
        ).exists()
        return access_id if live else None


ERR_MFA_REQUIRED_STAFF = gettext_noop(
    "Support staff use the admin with two-factor authentication: set up an authenticator app first."
)
ERR_MFA_REQUIRED_COMPANY = gettext_noop(
    "%(company)s requires two-factor authentication: set up an authenticator app to continue."
)
ERR_MFA_LOGIN = gettext_noop("Log in with your password and the code of your authenticator app to use the admin.")


def has_mfa(user) -> bool:
    from allauth.mfa.models import Authenticator

    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()


def session_used_mfa(request) -> bool:
    """The session was opened with a second factor (allauth records how it logged in)."""
    from allauth.account.authentication import get_authentication_records

    return any(record.get("method") == "mfa" for record in get_authentication_records(request, request.user))


class MfaRequiredMiddleware:
    """Two-factor authentication where it is required: staff on the admin (``MFA_REQUIRED_FOR_STAFF``:
    enrolled, and this session logged in with a code, so the admin's password-only form is not
    enough), and every member of a company whose owner requires it (enrolled; the code is asked
    at every login by allauth). Others are sent to set it up; the account pages stay open."""

    OPEN_PREFIXES = (
        "/accounts/",
        "/static/",
        "/i18n/",
        "/auth/handoff/",
        "/webhooks/",
        "/api/",
        "/manifest",
        "/sw.js",
        "/offline/",
        "/healthz",
        "/readyz",
    )

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self._check(request)
        return response if response is not None else self.get_response(request)

    def _check(self, request):
        from django.contrib import messages
        from django.contrib.auth import logout
        from django.shortcuts import redirect
        from django.urls import reverse
        from django.utils.http import urlencode
        from django.utils.translation import gettext as _

        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or request.path.startswith(self.OPEN_PREFIXES):
            return None
        if is_public_request(request):
            if not (settings.MFA_REQUIRED_FOR_STAFF and user.is_staff and request.path.startswith("/admin/")):
                return None
            if not has_mfa(user):
                messages.warning(request, _(ERR_MFA_REQUIRED_STAFF))
                return redirect(reverse("mfa_activate_totp") + "?" + urlencode({"next": request.get_full_path()}))
            if not session_used_mfa(request):
                logout(request)
                messages.warning(request, _(ERR_MFA_LOGIN))
                return redirect(reverse("account_login") + "?" + urlencode({"next": request.get_full_path()}))
            return None
        if request.tenant.require_mfa and getattr(request, "membership", None) is not None and not has_mfa(user):
            messages.warning(request, _(ERR_MFA_REQUIRED_COMPANY) % {"company": request.tenant.name})
            return redirect(reverse("mfa_activate_totp") + "?" + urlencode({"next": request.get_full_path()}))
        return None
