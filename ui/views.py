"""Pages of the interface itself: the PWA files every host serves (manifest, service worker,
offline page) and the interface kit page /ui/, which shows every component of
templates/components/ in its states (staff or DEBUG only).

The kit's data is sample data of its own (a few Brazilian contacts, a demo form): the page
shows components, not a company's records, so it needs no domain app.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache, wraps
from pathlib import Path

from django import forms
from django.conf import settings
from django.contrib.staticfiles import finders
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import cache_control

from ui.htmx import trigger_toast
from ui.pagination import paginate

# --- Progressive web app (served on every host) -------------------------------------------------
# Files the service worker stores at install, so the shell and the offline page open without
# a network. Everything else under /static/ is cached the first time it is fetched.
PRECACHE_STATIC = (
    "css/app.css",
    "js/theme.js",
    "js/offline.js",
    "js/app.js",
    "vendor/htmx.min.js",
    "vendor/alpine.min.js",
    "vendor/alpine-focus.min.js",
    "img/icons.svg",
    "img/icon.svg",
    "img/icon-192.png",
)


@lru_cache(maxsize=1)
def _static_version() -> str:
    """A hash of the precached static files' contents: the service worker's cache name, so a
    deploy that changes any of them installs a new cache and drops the old one."""
    digest = hashlib.sha256()
    for name in PRECACHE_STATIC:
        path = finders.find(name)
        if path is None and settings.STATIC_ROOT:
            candidate = Path(settings.STATIC_ROOT) / name
            path = str(candidate) if candidate.exists() else None
        digest.update(name.encode())
        if path:
            digest.update(Path(path).read_bytes())
    return digest.hexdigest()[:12]


def static_version() -> str:
    if settings.DEBUG:
        _static_version.cache_clear()  # files change while developing
    return _static_version()


@cache_control(no_cache=True)
def service_worker(request):
    script = render(
        request,
        "pwa/sw.js",
        {
            "version": static_version(),
            "precache": json.dumps([static(name) for name in PRECACHE_STATIC] + ["/offline/"]),
            "static_prefix": settings.STATIC_URL,
        },
        content_type="application/javascript",
    )
    # The worker controls the whole host even though it could be served from elsewhere.
    script["Service-Worker-Allowed"] = "/"
    return script


@cache_control(max_age=3600)
def manifest(request):
    data = {
        "name": "Master IA",
        "short_name": "Master IA",
        "description": _("WhatsApp and SMS customer messaging, CRM and AI agents for your business."),
        "id": "/",
        "start_url": "/?source=pwa",
        "scope": "/",
        "display": "standalone",
        "orientation": "any",
        "background_color": "#f8fafc",
        "theme_color": "#059669",
        "lang": translation.get_language() or settings.LANGUAGE_CODE,
        "icons": [
            {"src": static("img/icon-192.png"), "sizes": "192x192", "type": "image/png", "purpose": "any"},
            {"src": static("img/icon-512.png"), "sizes": "512x512", "type": "image/png", "purpose": "any"},
            {
                "src": static("img/icon-maskable-512.png"),
                "sizes": "512x512",
                "type": "image/png",
                "purpose": "maskable",
            },
            {"src": static("img/icon.svg"), "sizes": "any", "type": "image/svg+xml"},
        ],
    }
    if getattr(request, "tenant", None) is not None and request.tenant.schema_name != "public":
        data["name"] = f"{request.tenant.name} · Master IA"
    return JsonResponse(data, content_type="application/manifest+json", json_dumps_params={"ensure_ascii": False})


def offline(request):
    """Shown by the service worker when a page cannot be loaded; must not need the database."""
    return render(request, "pwa/offline.html")


# --- Interface kit page ---------------------------------------------------------------------------
def kit_view(view):
    """Staff (or anyone in DEBUG) who is in a company's workspace; everyone else gets 404, and
    the anonymous are sent to log in (as the workspace's own pages do)."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect(f"/accounts/login/?next={request.get_full_path()}")
        if getattr(request, "principal", None) is None or not (settings.DEBUG or request.user.is_staff):
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


@dataclass(frozen=True)
class SampleRow:
    """One row of the kit's table (components/table.html with ui/partials/kit_row.html)."""

    pk: int
    name: str
    email: str
    role: str
    role_label: str
    created_at: datetime


def sample_rows() -> list[SampleRow]:
    now = timezone.now()
    people = (
        ("Ana Souza", "ana@example.com.br", "owner", gettext_lazy("Owner")),
        ("Bruno Lima", "bruno@example.com.br", "admin", gettext_lazy("Admin")),
        ("Carla Mendes", "carla@example.com.br", "agent", gettext_lazy("Agent")),
        ("Diego Rocha", "diego@example.com.br", "agent", gettext_lazy("Agent")),
        ("Elisa Prado", "elisa@example.com.br", "viewer", gettext_lazy("Viewer")),
    )
    return [
        SampleRow(n, name, email, role, str(label), now - timedelta(days=30 * n))
        for n, (name, email, role, label) in enumerate(people, start=1)
    ]


class KitForm(forms.Form):
    """Fields of every kind the kit styles, shown valid and invalid."""

    email = forms.EmailField(label=gettext_lazy("Email"), help_text=gettext_lazy("We send the invitation here."))
    plan = forms.ChoiceField(
        label=gettext_lazy("Plan"),
        choices=[("basic", gettext_lazy("Basic")), ("pro", gettext_lazy("Professional"))],
    )
    notes = forms.CharField(label=gettext_lazy("Notes"), required=False, widget=forms.Textarea(attrs={"rows": 2}))
    agree = forms.BooleanField(label=gettext_lazy("Send me product news"), required=False)


@kit_view
def kit(request):
    """Every component of templates/components/ in its states."""
    invalid = KitForm({"email": "not-an-email", "plan": "basic"})
    invalid.is_valid()
    q = request.GET.get("q", "").strip()
    rows = [r for r in sample_rows() if not q or q.lower() in r.email or q.lower() in r.name.lower()]
    context = {
        "page": paginate(request, rows, page_size=None),
        "q": q,
        "columns": [_("Member"), _("Role"), _("Joined")],
        "valid_form": KitForm(),
        "invalid_form": invalid,
        "progress_poll_url": f"{reverse('ui:kit-progress')}?started={int(time.time())}",
        "tabs": [
            {"label": _("Overview"), "url": "#overview", "active": True, "icon": "squares-2x2"},
            {"label": _("Messages"), "url": "#messages", "active": False, "count": 12},
            {"label": _("Settings"), "url": "#settings", "active": False},
        ],
        "empty_page": paginate(request, []),
    }
    return render(request, "ui/kit.html", context)


@kit_view
def kit_toast(request):
    level = request.GET.get("level", "success")
    response = HttpResponse(status=204)
    return trigger_toast(response, _("This toast came from an HX-Trigger header."), level=level)


@kit_view
def kit_progress(request):
    """Demo job for the polling progress bar: four seconds from ``started``."""
    try:
        started = int(request.GET.get("started", "0"))
    except ValueError:
        started = 0
    elapsed = max(0, int(time.time()) - started)
    done = min(100, elapsed * 25)
    context = {
        "done": done,
        "total": 100,
        "finished": done >= 100,
        "poll_url": f"{reverse('ui:kit-progress')}?started={started}",
        "test_id": "kit-poll",
        "label": _("Demo import"),
        "status": _("Finished") if done >= 100 else _("Running"),
    }
    return render(request, "components/progress.html", context)


@kit_view
def kit_drawer(request):
    return render(request, "ui/partials/kit_drawer.html", {"now": timezone.now()})
