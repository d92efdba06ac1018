"""Support staff's view of every company's campaigns and message templates, on the public
domain's admin (where company tables do not exist): a read-only list of companies (a proxy
model) whose figures are read inside each company's schema, a page per company with its
templates and campaigns, and one action: pause a running campaign (with the reason written on
it, so the company sees who paused it and why)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop
from django.views.decorators.http import require_POST
from django_tenants.utils import schema_context

from campaigns.pricing.models import CompanyCampaigns
from tenants.admin_overview import CompanyOverviewAdmin

MSG_PAUSED = gettext_noop("Campaign “%(name)s” paused.")
ERR_REASON = gettext_noop("Say why the campaign is paused: the company reads it.")
SUPPORT_DETAIL = gettext_noop("Paused by Master IA support: %(reason)s")


def _summary(company) -> dict:
    cache = getattr(company, "_campaigns_summary", None)
    if cache is not None:
        return cache
    from django.db.models import Count, Q

    from campaigns.models import Campaign, CampaignState, MessageTemplate, TemplateStatus

    with schema_context(company.schema_name):
        campaigns = Campaign.objects.aggregate(
            running=Count("id", filter=Q(state=CampaignState.RUNNING)),
            paused=Count("id", filter=Q(state=CampaignState.PAUSED)),
            scheduled=Count("id", filter=Q(state=CampaignState.SCHEDULED)),
            total=Count("id"),
        )
        templates = MessageTemplate.objects.aggregate(
            approved=Count("id", filter=Q(status=TemplateStatus.APPROVED)),
            pending=Count("id", filter=Q(status=TemplateStatus.PENDING)),
            rejected=Count("id", filter=Q(status__in=[TemplateStatus.REJECTED, TemplateStatus.DISABLED])),
        )
    cache = {**campaigns, **{f"t_{k}": v for k, v in templates.items()}}
    company._campaigns_summary = cache
    return cache


@admin.register(CompanyCampaigns)
class CompanyCampaignsAdmin(CompanyOverviewAdmin):
    list_display = ("name", "slug", "running", "paused", "scheduled", "campaigns", "templates")

    @admin.display(description=gettext_lazy("sending"))
    def running(self, obj):
        return _summary(obj)["running"]

    @admin.display(description=gettext_lazy("paused"))
    def paused(self, obj):
        return _summary(obj)["paused"]

    @admin.display(description=gettext_lazy("scheduled"))
    def scheduled(self, obj):
        return _summary(obj)["scheduled"]

    @admin.display(description=gettext_lazy("campaigns"))
    def campaigns(self, obj):
        return _summary(obj)["total"]

    @admin.display(description=gettext_lazy("templates approved / in review / rejected"))
    def templates(self, obj):
        s = _summary(obj)
        return f"{s['t_approved']} / {s['t_pending']} / {s['t_rejected']}"

    def get_urls(self):
        info = self.model._meta.app_label, self.model._meta.model_name
        return [
            path("<int:pk>/overview/", self.admin_site.admin_view(self.overview), name=f"{info[0]}_{info[1]}_overview"),
            path(
                "<int:pk>/campaigns/<int:campaign_id>/pause/",
                self.admin_site.admin_view(require_POST(self.pause)),
                name=f"{info[0]}_{info[1]}_pause",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return HttpResponseRedirect(reverse("admin:campaign_pricing_companycampaigns_overview", args=[object_id]))

    def _company(self, pk):
        company = self.get_queryset(None).filter(pk=pk).first() if pk else None
        if company is None:
            raise Http404
        return company

    def overview(self, request, pk: int):
        from campaigns.models import Campaign, MessageTemplate
        from campaigns.selectors import pause_text

        company = self._company(pk)
        with schema_context(company.schema_name):
            campaigns = list(Campaign.objects.select_related("channel").order_by("-created_at")[:100])
            for campaign in campaigns:
                campaign.pause_words = pause_text(campaign)  # type: ignore[attr-defined]
            templates = list(MessageTemplate.objects.select_related("channel").order_by("name", "language")[:300])
        context = {
            **self.admin_site.each_context(request),
            "title": _("Campaigns of %(name)s") % {"name": company.name},
            "company": company,
            "campaigns": campaigns,
            "templates": templates,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/campaigns/overview.html", context)

    def pause(self, request, pk: int, campaign_id: int):
        from campaigns.models import Campaign, PauseReason
        from campaigns.services import campaign_pause

        company = self._company(pk)
        reason = (request.POST.get("reason") or "").strip()[:400]
        back = reverse("admin:campaign_pricing_companycampaigns_overview", args=[pk])
        if not reason:
            messages.error(request, _(ERR_REASON))
            return HttpResponseRedirect(back)
        with schema_context(company.schema_name):
            campaign = Campaign.objects.filter(pk=campaign_id).first()
            if campaign is None:
                raise Http404
            try:
                campaign_pause(
                    campaign=campaign,
                    reason=PauseReason.USER,
                    detail=_(SUPPORT_DETAIL) % {"reason": reason},
                    by=request.user,
                )
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
                return HttpResponseRedirect(back)
        messages.success(request, _(MSG_PAUSED) % {"name": campaign.name})
        return HttpResponseRedirect(back)
