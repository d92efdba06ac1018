"""Support staff's view of every company's cadences. The admin runs on the public domain, where
company tables do not exist, so this is a read-only list of companies (a proxy model) whose
columns are read inside each company's schema: cadences by status, live enrolments, and how
late the oldest due enrolment is (a tick that stopped shows here first)."""

from __future__ import annotations

from django.contrib import admin
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_tenants.utils import schema_context

from cadences.models import CompanyCadences
from tenants.admin_overview import CompanyOverviewAdmin


def _summary(company) -> dict:
    cache = getattr(company, "_cadences_summary", None)
    if cache is not None:
        return cache
    from django.db.models import Count, Q

    from cadences.engine import next_due
    from cadences.models import Cadence, Enrollment

    with schema_context(company.schema_name):
        cache = Cadence.objects.aggregate(
            active=Count("id", filter=Q(status="active")),
            paused=Count("id", filter=Q(status="paused")),
            total=Count("id"),
        )
        cache["live"] = Enrollment.objects.filter(state__in=["active", "paused"]).count()
        due = next_due()
        cache["late"] = max(0, int((timezone.now() - due).total_seconds())) if due else 0
    company._cadences_summary = cache
    return cache


@admin.register(CompanyCadences)
class CompanyCadencesAdmin(CompanyOverviewAdmin):
    list_display = ("name", "slug", "active", "paused", "cadences", "live", "late")

    @admin.display(description=_("active"))
    def active(self, obj):
        return _summary(obj)["active"]

    @admin.display(description=_("paused"))
    def paused(self, obj):
        return _summary(obj)["paused"]

    @admin.display(description=_("cadences"))
    def cadences(self, obj):
        return _summary(obj)["total"]

    @admin.display(description=_("live enrolments"))
    def live(self, obj):
        return f"{_summary(obj)['live']:,}"

    @admin.display(description=_("oldest due enrolment late by (s)"))
    def late(self, obj):
        return _summary(obj)["late"]
