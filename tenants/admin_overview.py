"""A base for the support admin's per-app company overviews (campaigns, AI, ...).

Each app shows one read-only row per company (a proxy of ``Company``) with its own figures;
the rows are companies, never the public schema, and nothing is added, changed or deleted here.
"""

from __future__ import annotations

from django.contrib import admin


class CompanyOverviewAdmin(admin.ModelAdmin):
    search_fields = ("name", "slug")
    list_per_page = 25

    def get_queryset(self, request):
        return super().get_queryset(request).exclude(schema_name="public").order_by("name")

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
