"""The short redirect of tracked links (``/l/<code>`` on the company's domain): no login, one
statement, the destination from the database only (never from the request)."""

from __future__ import annotations

from django.http import HttpResponseNotFound, HttpResponseRedirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from campaigns.links import link_click


@never_cache
@require_safe
def link_redirect(request, code: str):
    outcome = link_click(code=code, user_agent=request.headers.get("User-Agent", ""), count=request.method == "GET")
    if outcome is None:
        return HttpResponseNotFound("Link not found.", content_type="text/plain")
    response = HttpResponseRedirect(outcome[0])
    response["Referrer-Policy"] = "no-referrer"
    return response
