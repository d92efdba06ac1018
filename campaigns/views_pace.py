"""A WhatsApp Web number's sending pace (how fast a real phone can send a campaign): the
random pause between messages and the daily cap with its warm-up for new numbers. Everyone
who sees campaigns reads it; admins change it (``campaigns.services.sending_pace_update``)."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseForbidden
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from campaigns import selectors
from campaigns.services import sending_pace_update
from inbox.models import Channel, ChannelKind
from tenants.context import current_company
from tenants.permissions import ERR_FORBIDDEN, role_required
from tenants.roles import Role

MANAGE = Role.ADMIN
MSG_SAVED = gettext_noop("Sending pace saved. Running campaigns use it from their next message.")
ERR_NUMBERS = gettext_noop("Enter numbers in every field.")
FIELDS = ("min_delay_s", "max_delay_s", "daily_cap", "warmup_start", "warmup_growth_pct")


def _time_zone() -> str:
    return getattr(current_company(), "time_zone", "") or "America/Sao_Paulo"


def _parse(post) -> dict | None:
    try:
        return {
            "min_delay_s": float(str(post.get("min_delay_s", "")).replace(",", ".")),
            "max_delay_s": float(str(post.get("max_delay_s", "")).replace(",", ".")),
            "daily_cap": int(post.get("daily_cap", "")),
            "warmup_start": int(post.get("warmup_start", "")),
            "warmup_growth_pct": int(post.get("warmup_growth_pct", "")),
        }
    except (TypeError, ValueError):
        return None


@role_required(Role.VIEWER)
def channel_pace(request, pk: int):
    channel = get_object_or_404(Channel, pk=pk, kind=ChannelKind.WHATSAPP_WEB)
    principal = getattr(request, "principal", None)
    can_manage = principal is not None and principal.can(MANAGE)
    pace = selectors.sending_pace(channel, time_zone=_time_zone())
    errors: dict[str, str] = {}
    values = {name: pace[name] for name in FIELDS}
    status = 200
    if request.method == "POST":
        if not can_manage:
            return HttpResponseForbidden(_(ERR_FORBIDDEN))
        values = {name: request.POST.get(name, "") for name in FIELDS}
        data = _parse(request.POST)
        if data is None:
            errors["form"] = _(ERR_NUMBERS)
        else:
            try:
                sending_pace_update(channel=channel, **data)
            except ValidationError as exc:
                errors = {key: " ".join(msgs) for key, msgs in exc.message_dict.items()}
            else:
                messages.success(request, _(MSG_SAVED))
                return redirect("campaigns:channel-pace", pk=channel.pk)
        status = 400
    context = {"channel": channel, "pace": pace, "values": values, "errors": errors, "can_manage": can_manage}
    return render(request, "campaigns/channel_pace.html", context, status=status)
