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
