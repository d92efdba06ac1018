"""Support admin (public domain): webhook deliveries that could not be processed, per company,
and sending them back to the queue once the cause is fixed.

Webhook events live in each company's schema, so this is not a plain changelist: the first page
lists the companies with dead (or retrying) deliveries, one statement over their schemas; a
company's page lists its dead deliveries inside that schema, with a "reprocess" action.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_tenants.utils import get_public_schema_name, schema_context

from inbox.models import WebhookEvent
from inbox.selectors import webhook_error_display
from tenants.models import Company

# Schemas counted per statement on the first page.
SCHEMAS_PER_QUERY = 200
EVENTS_PER_PAGE = 100


def companies_with_failed_webhooks() -> list[dict]:
    """Companies with dead or retrying webhook events: ``{"company", "dead", "retrying"}``.

    Both counts read partial indexes (dead rows; unprocessed rows), so each schema costs two
    index lookups, and a few statements cover every company."""
    companies = {c.schema_name: c for c in Company.objects.exclude(schema_name=get_public_schema_name())}
    with connection.cursor() as cursor:
        # Schemas that hold the table (a company whose schema is being created has none yet).
        cursor.execute(
            "SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relname = 'inbox_webhookevent' AND c.relkind IN ('r', 'p') AND n.nspname = ANY(%s)",
            [list(companies)],
        )
        schemas = sorted(row[0] for row in cursor.fetchall())
        counts: dict[str, tuple[int, int]] = {}
        for start in range(0, len(schemas), SCHEMAS_PER_QUERY):
            chunk = schemas[start : start + SCHEMAS_PER_QUERY]
            parts = []
            for schema in chunk:
                table = '"{}".inbox_webhookevent'.format(schema.replace('"', '""'))
                parts.append(
                    f"SELECT %s, (SELECT count(*) FROM {table} WHERE dead_at IS NOT NULL),"
                    f" (SELECT count(*) FROM {table} WHERE processed_at IS NULL AND attempts > 0)"
                )
            cursor.execute(" UNION ALL ".join(parts), chunk)
            for schema, dead, retrying in cursor.fetchall():
                if dead or retrying:
                    counts[schema] = (dead, retrying)
    rows = [
        {"company": companies[schema], "dead": dead, "retrying": retrying}
        for schema, (dead, retrying) in counts.items()
    ]
    return sorted(rows, key=lambda row: row["company"].name.lower())


@admin.register(WebhookEvent)
class WebhookEventAdmin(admin.ModelAdmin):
    """Only the two pages above: rows are never added, edited or deleted by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_staff and request.user.has_perm("inbox.change_webhookevent")

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return self.has_change_permission(request, obj)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("", view(self.companies_view), name="inbox_webhookevent_changelist"),
            path("<slug:slug>/", view(self.company_view), name="inbox_webhookevent_company"),
        ]

    def _check(self, request) -> None:
        if not self.has_change_permission(request):
            raise PermissionDenied

    def companies_view(self, request):
        self._check(request)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Webhook deliveries that could not be processed"),
            "rows": companies_with_failed_webhooks(),
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/inbox/webhookevent/companies.html", context)

    def company_view(self, request, slug: str):
        self._check(request)
        company = get_object_or_404(Company.objects.exclude(schema_name=get_public_schema_name()), slug=slug)
        with schema_context(company.schema_name):
            if request.method == "POST":
                return self._reprocess(request, company)
            events = list(
                WebhookEvent.objects.filter(dead_at__isnull=False)
                .select_related("channel")
                .order_by("-id")[:EVENTS_PER_PAGE]
            )
            for event in events:
                event.reason = webhook_error_display(event.error)  # type: ignore[attr-defined]
            retrying = list(
                WebhookEvent.objects.filter(processed_at__isnull=True, attempts__gt=0)
                .select_related("channel")
                .order_by("id")[:EVENTS_PER_PAGE]
            )
            context = {
                **self.admin_site.each_context(request),
                "title": _("Webhook deliveries of %(name)s that could not be processed") % {"name": company.name},
                "company": company,
                "events": events,
                "retrying": retrying,
                "dead_count": WebhookEvent.objects.filter(dead_at__isnull=False).count(),
                "opts": self.model._meta,
            }
            response = TemplateResponse(request, "admin/inbox/webhookevent/company.html", context)
            return response.render()  # inside the company's schema: the template reads its rows

    def _reprocess(self, request, company: Company):
        from inbox.services import webhook_events_reprocess

        try:
            ids = [int(pk) for pk in request.POST.getlist("event")]
        except ValueError:
            ids = []
        if not ids:
            messages.warning(request, _("Choose the deliveries to process again."))
        else:
            count = webhook_events_reprocess(event_ids=ids)
            messages.success(
                request,
                ngettext(
                    "%(count)d delivery sent back to the queue.", "%(count)d deliveries sent back to the queue.", count
                )
                % {"count": count},
            )
        return HttpResponseRedirect(reverse("admin:inbox_webhookevent_company", args=[company.slug]))
