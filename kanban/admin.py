"""Support staff's read-only view of the Kanban boards: the admin runs on the public domain,
where company tables do not exist, so this is a read-only list of companies (a proxy model)
whose columns are read inside each company's schema."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from django_tenants.utils import schema_context

from kanban.models import CompanyKanban


def _summary(company) -> dict:
    cache = getattr(company, "_kanban_summary", None)
    if cache is not None:
        return cache
    from kanban.models import AIDecision, Card, Pipeline

    with schema_context(company.schema_name):
        cache = {
            "pipelines": Pipeline.objects.count(),
            "cards": Card.objects.count(),
            "ai_enabled": Pipeline.objects.filter(ai_enabled=True).count(),
            "decisions": AIDecision.objects.count(),
        }
    company._kanban_summary = cache
    return cache


@admin.register(CompanyKanban)
class CompanyKanbanAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "pipelines", "cards", "ai_pipelines", "decisions")
    search_fields = ("name", "slug")
    ordering = ("name",)

    def get_queryset(self, request):
        return super().get_queryset(request).exclude(schema_name="public")

    @admin.display(description=_("pipelines"))
    def pipelines(self, obj):
        return _summary(obj)["pipelines"]

    @admin.display(description=_("cards"))
    def cards(self, obj):
        return _summary(obj)["cards"]

    @admin.display(description=_("pipelines with AI"))
    def ai_pipelines(self, obj):
        return _summary(obj)["ai_enabled"]

    @admin.display(description=_("AI decisions"))
    def decisions(self, obj):
        return _summary(obj)["decisions"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
