"""The campaigns' section of the support admin (``tenants.support``), with "pause"."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tenants.support import Action, Section, register


def _rows(search: str, offset: int, limit: int) -> list:
    from campaigns.models import Campaign

    qs = Campaign.objects.order_by("-id")
    if search:
        qs = qs.filter(name__icontains=search)
    return list(
        qs.values(
            "pk",
            "name",
            "channel__name",
            "state",
            "pause_reason",
            "total_count",
            "sent_count",
            "queued_count",
            "created_at",
        )[offset : offset + limit]
    )


def _detail(pk: int) -> dict | None:
    from campaigns.models import Campaign

    campaign = Campaign.objects.select_related("channel").filter(pk=pk).first()
    if campaign is None:
        return None
    return {
        "title": campaign.name,
        "fields": [
            (gettext_lazy("Channel"), campaign.channel.name),
            (gettext_lazy("State"), campaign.get_state_display()),
            (gettext_lazy("Pause reason"), campaign.get_pause_reason_display()),
            (gettext_lazy("Pause detail"), campaign.pause_detail),
            (gettext_lazy("Recipients"), campaign.total_count),
            (gettext_lazy("Sent"), campaign.sent_count),
            (gettext_lazy("To send"), campaign.queued_count),
            (gettext_lazy("Send at"), campaign.scheduled_at),
            (gettext_lazy("Started at"), campaign.started_at),
        ],
    }


def _pause(pk: int, staff) -> str:
    from campaigns.dispatch.control import campaign_pause

    campaign = campaign_pause(campaign=pk, by=staff)
    return _("Campaign %(name)s paused; the company can resume it.") % {"name": campaign.name}


def register_sections() -> None:
    register(
        Section(
            key="campaigns",
            label=gettext_lazy("Campaigns"),
            order=50,
            columns=[
                ("name", gettext_lazy("Name")),
                ("channel__name", gettext_lazy("Channel")),
                ("state", gettext_lazy("State")),
                ("pause_reason", gettext_lazy("Pause reason")),
                ("total_count", gettext_lazy("Recipients")),
                ("sent_count", gettext_lazy("Sent")),
                ("queued_count", gettext_lazy("To send")),
                ("created_at", gettext_lazy("Created at")),
            ],
            rows=_rows,
            detail=_detail,
            actions=(Action(key="pause", label=gettext_lazy("Pause the campaign"), run=_pause),),
            search_help=gettext_lazy("Campaign name"),
        )
    )
