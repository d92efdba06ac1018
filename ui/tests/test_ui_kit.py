"""Interface kit: every template compiles, the template tags, pagination, htmx toasts, the /ui/ page."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings
from django.template import Context, Template
from django.template.loader import get_template
from django.test import RequestFactory, override_settings
from django.urls import reverse

from tenants.models import Membership
from ui.htmx import HtmxMessagesMiddleware, trigger_toast
from ui.pagination import paginate

TEMPLATE_ROOTS = [Path(settings.BASE_DIR) / app / "templates" for app in (".", "tenants", "ui", "crm", "inbox")]


def _templates():
    for root in TEMPLATE_ROOTS:
        for path in sorted(root.rglob("*.html")):
            yield str(path.relative_to(root))


@pytest.mark.parametrize("name", list(_templates()))
def test_every_template_compiles(name):
    get_template(name)


def test_every_component_documents_its_interface():
    for path in (Path(settings.BASE_DIR) / "templates" / "components").glob("*.html"):
        head = path.read_text()[:400]
        assert "{% comment %}" in head, f"{path.name} has no documentation comment at the top"


def render(source: str, **context) -> str:
    return Template("{% load ui %}" + source).render(Context(context))


def test_icon_is_decorative_unless_labelled():
    html = render('{% icon "home" "h-4 w-4" %}')
    assert 'aria-hidden="true"' in html and "icons.svg#home" in html and "h-4 w-4" in html
    labelled = render('{% icon "home" label="Início" %}')
    assert 'role="img"' in labelled and 'aria-label="Início"' in labelled


def test_field_renders_label_widget_and_inline_error():
    from tenants.forms import InviteForm

    form = InviteForm({"email": "nope", "role": "agent"})
    form.is_valid()
    html = render("{% field form.email %}", form=form)
    assert '<label for="id_email"' in html
    assert 'aria-invalid="true"' in html
    assert 'aria-describedby="id_email_error"' in html
    assert 'id="id_email_error"' in html
    assert "input-invalid" in html


def test_fields_renders_non_field_errors():
    from django import forms

    class F(forms.Form):
        name = forms.CharField()

        def clean(self):
            raise forms.ValidationError("Whole form is wrong")

    form = F({"name": "x"})
    form.is_valid()
    html = render("{% fields form %}", form=form)
    assert "Whole form is wrong" in html and 'role="alert"' in html


@pytest.mark.parametrize(
    ("value", "expected"), [("Ana Souza", "AS"), ("ana@x.com", "AN"), ("maria.clara", "MC"), ("", "?")]
)
def test_initials(value, expected):
    assert render("{{ v|initials }}", v=value) == expected


@pytest.mark.parametrize(("done", "total", "expected"), [(0, 0, "0"), (5, 10, "50"), (20, 10, "100"), (1, 3, "33")])
def test_percent_of(done, total, expected):
    assert render("{{ d|percent_of:t }}", d=done, t=total) == expected


def test_trigger_toast_merges_with_existing_triggers():
    from django.http import HttpResponse

    response = HttpResponse()
    response["HX-Trigger"] = "refreshList"
    trigger_toast(response, "Salvo.", level="success")
    data = json.loads(response["HX-Trigger"])
    assert data == {"refreshList": None, "toast": {"message": "Salvo.", "level": "success"}}


@pytest.mark.django_db
def test_django_messages_become_toasts_on_htmx_requests():
    from django.contrib import messages
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.http import HttpResponse
    from django_htmx.middleware import HtmxMiddleware

    def view(request):
        messages.error(request, "Falhou.")
        return HttpResponse("ok")

    request = RequestFactory().post("/x/", HTTP_HX_REQUEST="true")
    request.session = {}
    request._messages = FallbackStorage(request)
    response = HtmxMiddleware(HtmxMessagesMiddleware(view))(request)
    assert json.loads(response["HX-Trigger"])["toast"] == {"message": "Falhou.", "level": "error"}
    assert request._messages.used  # consumed: MessageMiddleware will not keep them for the next page


@pytest.mark.django_db
def test_paginate_offset_and_keyset(make_user):
    from tenants.models import User

    mine = [make_user().pk for _ in range(7)]
    users = User.objects.filter(pk__in=mine)  # other tests' committed rows stay out
    qs = users.order_by("id")
    page = paginate(RequestFactory().get("/", {"page": "2", "size": "10"}), qs, page_size=3)
    assert (page.number, page.num_pages, page.total) == (2, 3, 7)
    assert (page.start_index, page.end_index) == (4, 6)
    assert page.has_previous and page.has_next
    assert page.page_range == [1, 2, 3]
    # A page number out of range or garbage falls back instead of failing.
    assert paginate(RequestFactory().get("/", {"page": "99"}), qs, page_size=3).number == 3
    assert paginate(RequestFactory().get("/", {"page": "x"}), qs, page_size=3).number == 1
    # Keyset: newest first, pages follow the cursor, backwards too.
    first = paginate(RequestFactory().get("/"), users, page_size=3, keyset="-id")
    ids = [u.id for u in users.order_by("-id")]
    assert [u.id for u in first.items] == ids[:3] and first.has_next and not first.has_previous
    second = paginate(RequestFactory().get("/", {"after": first.next_cursor}), users, page_size=3, keyset="-id")
    assert [u.id for u in second.items] == ids[3:6] and second.has_previous
    back = paginate(RequestFactory().get("/", {"before": second.previous_cursor}), users, page_size=3, keyset="-id")
    assert [u.id for u in back.items] == ids[:3]
    bad = paginate(RequestFactory().get("/", {"after": "abc"}), users, page_size=3, keyset="-id")
    assert [u.id for u in bad.items] == ids[:3]


def test_page_size_is_limited_to_the_offered_sizes():
    from ui.pagination import DEFAULT_PAGE_SIZE, page_size_from

    assert page_size_from(RequestFactory().get("/", {"size": "50"})) == 50
    assert page_size_from(RequestFactory().get("/", {"size": "100000"})) == DEFAULT_PAGE_SIZE
    assert page_size_from(RequestFactory().get("/", {"size": "-1"})) == DEFAULT_PAGE_SIZE


@pytest.mark.django_db
def test_ui_kit_is_hidden_from_members_who_are_not_staff(owner_client):
    assert owner_client.get(reverse("ui:kit")).status_code == 404


@pytest.mark.django_db
def test_ui_kit_for_staff_shows_every_component(tenant_client_factory, acme, make_user):
    staff = make_user(is_staff=True)
    Membership.objects.create(user=staff, company=acme, role="owner")
    client = tenant_client_factory(acme, staff)
    html = client.get(reverse("ui:kit")).content.decode()
    for marker in (
        "data-empty-state",
        "data-table",
        "data-pagination",
        "data-search",
        "data-skeleton",
        "data-tabs",
        "data-progress",
        "data-confirm",
        "field-error",
    ):
        assert marker in html, marker
    toast = client.get(reverse("ui:kit-toast"), HTTP_HX_REQUEST="true")
    assert json.loads(toast["HX-Trigger"])["toast"]["level"] == "success"
    progress = client.get(reverse("ui:kit-progress"), {"started": "0"}).content.decode()
    assert 'aria-valuenow="100"' in progress and "hx-trigger" not in progress  # finished: stops polling


@pytest.mark.django_db
@override_settings(DEBUG=True)
def test_ui_kit_open_in_debug(owner_client):
    assert owner_client.get(reverse("ui:kit")).status_code == 200


def test_fast_select_renders_like_a_select():
    from tenants.forms import CompanyProfileForm

    html = str(CompanyProfileForm(initial={"time_zone": "America/Manaus"})["time_zone"])
    assert html.startswith("<select") and 'name="time_zone"' in html and 'id="id_time_zone"' in html
    assert '<option value="America/Manaus" selected>America/Manaus</option>' in html
    assert html.count(" selected") == 1


@pytest.mark.parametrize(
    ("language", "value", "expected"),
    [("pt-br", 1234.5, "R$\xa01.234,50"), ("en", 1234.5, "R$1,234.50"), ("pt-br", -3, "-R$\xa03,00"), ("en", "x", "")],
)
def test_currency_follows_the_language(language, value, expected):
    from django.utils import translation

    with translation.override(language):
        assert render("{{ v|currency }}", v=value) == expected


@pytest.mark.django_db
def test_service_worker_is_served_at_the_root_of_every_host(public_client, tenant_client_factory, acme):
    for client in (public_client, tenant_client_factory(acme)):
        response = client.get("/sw.js")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("application/javascript")
        assert response["Service-Worker-Allowed"] == "/"
        body = response.content.decode()
        assert 'const CACHE = "mia-" + VERSION;' in body and "/offline/" in body and "/static/css/app.css" in body


@pytest.mark.django_db
def test_service_worker_cache_version_follows_the_static_files(public_client, tmp_path, monkeypatch):
    from ui import views

    css = tmp_path / "app.css"
    css.write_text("a{}")
    real_find = views.finders.find
    monkeypatch.setattr(views.finders, "find", lambda name: str(css) if name == "css/app.css" else real_find(name))
    views._static_version.cache_clear()
    first = views.static_version()
    css.write_text("a{color:red}")
    views._static_version.cache_clear()
    second = views.static_version()
    views._static_version.cache_clear()
    assert first != second
    assert f'const VERSION = "{second}";' in public_client.get("/sw.js").content.decode()


@pytest.mark.django_db
def test_manifest_and_offline_page(public_client, tenant_client_factory, acme):
    manifest = json.loads(public_client.get("/manifest.webmanifest").content)
    assert manifest["display"] == "standalone" and manifest["start_url"].startswith("/")
    assert {"192x192", "512x512"} <= {icon["sizes"] for icon in manifest["icons"]}
    assert any(icon.get("purpose") == "maskable" for icon in manifest["icons"])
    for icon in manifest["icons"]:
        name = icon["src"].removeprefix(settings.STATIC_URL)
        assert (Path(settings.BASE_DIR) / "static" / name).exists(), name
    company_manifest = json.loads(tenant_client_factory(acme).get("/manifest.webmanifest").content)
    assert acme.name in company_manifest["name"]
    offline = tenant_client_factory(acme).get("/offline/")
    assert offline.status_code == 200 and b"data-offline-page" in offline.content
