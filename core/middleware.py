"""Requests refused before any view runs, for what no view can handle."""

from __future__ import annotations

from django.http import HttpResponse, JsonResponse
from django.template import loader
from django.utils.translation import gettext_lazy as _

ERR_NUL = _("The address or the form holds a character that cannot be used (a NUL byte). Remove it and try again.")

_FORM = "application/x-www-form-urlencoded"
_MULTIPART = "multipart/form-data"


class RefuseNulMiddleware:
    """400 for a NUL byte in the path, the query string or a URL-encoded form.

    PostgreSQL cannot hold a NUL in text, so a search term or a filter with one failed deep in
    a query (a 500) on every page and endpoint that reads parameters by hand. Django's and
    DRF's form fields refuse NULs already; this covers everything else at one place: form fields
    and file names (not file contents, which may hold NULs). The provider webhooks are left to
    their views, whose bodies must reach the signature check as they came.

    Placed after the locale middleware: the message is in the reader's language.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if self._has_nul(request):
            return self.refuse(request)
        return self.get_response(request)

    @staticmethod
    def _has_nul(request) -> bool:
        if "\x00" in request.path or "%00" in request.META.get("QUERY_STRING", ""):
            return True
        if request.method != "POST" or request.path.startswith("/webhooks/"):
            return False
        if request.content_type == _FORM:
            return b"%00" in request.body
        if request.content_type == _MULTIPART:
            # Parsed here rather than in the view: the CSRF check reads request.POST as well,
            # and DRF takes over what Django already parsed.
            # A broken body raises here as it would in the view (Django answers 400).
            fields = [value for _key, values in request.POST.lists() for value in values]
            names = [upload.name or "" for _key, uploads in request.FILES.lists() for upload in uploads]
            return any("\x00" in text for text in [*fields, *names, *request.POST.keys()])
        return False

    @staticmethod
    def refuse(request) -> HttpResponse:
        if request.path.startswith("/api/"):
            return JsonResponse({"detail": str(ERR_NUL)}, status=400)
        html = loader.render_to_string("400.html", {"message": ERR_NUL}, request=None)
        return HttpResponse(html, status=400)


# The vendored scripts need nothing inline: Alpine.js is its CSP build (no eval), htmx is told
# not to inject its indicator <style> (base.html's htmx-config), and every script and style is
# a file under /static/. A script that slips into a page (stored XSS) therefore does not run.
PAGE_POLICY = (
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "media-src 'self' blob:",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "worker-src 'self'",
    "manifest-src 'self'",
)
# Django's admin and Swagger UI set style attributes of their own (their scripts are files).
INLINE_STYLE_PREFIXES = ("/admin/", "/api/v1/docs/")


def content_security_policy(request) -> str:
    host = request.get_host()
    socket_scheme = "wss" if request.is_secure() else "ws"
    directives = list(PAGE_POLICY)
    # 'self' covers same-origin websockets in current browsers; the explicit origin covers the rest.
    directives.append(f"connect-src 'self' {socket_scheme}://{host}")
    if request.path.startswith(INLINE_STYLE_PREFIXES):
        directives[2] = "style-src 'self' 'unsafe-inline'"
    return "; ".join(directives)


class ContentSecurityPolicyMiddleware:
    """Every response gets the page policy unless it set a stricter one (message media)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            try:
                response["Content-Security-Policy"] = content_security_policy(request)
            except Exception:  # noqa: BLE001 - a disallowed Host already got its 400
                response["Content-Security-Policy"] = "; ".join((*PAGE_POLICY, "connect-src 'self'"))
        return response
