"""Campaign pages: the list with states and progress, the form, the campaign page (review and
start for a draft: the audience after exclusions, the estimated cost, the messaging-limit
warning, a test send; then live counters, the rate chart, pause / resume / cancel with the
reason in plain words, the recipient table with filters and the CSV export).

Views check the role and the input, then call ``campaigns.services`` (the engine's lifecycle)
and read through ``campaigns.selectors``. Viewers read; admins create and run campaigns.
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django.views.decorators.http import require_GET, require_POST

from campaigns import links, selectors
from campaigns import preview as phone
from campaigns.errors import recipient_reason
from campaigns.forms import source_choices
from campaigns.forms_campaigns import VARIANT_KEYS, WEEKDAYS, CampaignInput, VariantInput
from campaigns.models import (
    AudienceKind,
    AudienceUpload,
    Campaign,
    CampaignKind,
    CampaignState,
    MessageTemplate,
    Recipient,
    RecipientState,
    WinnerMetric,
)
from crm.models import ContactList, Segment, Tag
from crm.selectors import custom_field_definitions
from inbox.models import Channel, ChannelKind
from tenants.context import current_company
from tenants.permissions import role_required
from tenants.roles import Role
from ui.pagination import paginate

MANAGE = Role.ADMIN
ERR_FIX = gettext_noop("Fix the problems shown below.")
ERR_WHEN = gettext_noop("Choose the date and time to send.")
ERR_TEST_PHONE = gettext_noop("Enter your phone number with area code, e.g. +55 11 99999-0000.")
MSG_CREATED = gettext_noop("Draft saved. Check the numbers below and start when ready.")
MSG_STARTED = gettext_noop("Sending started.")
MSG_SCHEDULED = gettext_noop("Campaign scheduled for %(when)s.")
MSG_PAUSED = gettext_noop("Campaign paused. Messages already on their way finish; nothing else is sent.")
MSG_RESUMED = gettext_noop("Campaign resumed where it stopped.")
MSG_CANCELLED = gettext_noop("Campaign cancelled. Whoever was still waiting will not receive it.")
MSG_TEST_SENT = gettext_noop("Test message sent to %(phone)s.")
ERR_UPLOAD_FILE = gettext_noop("Choose a CSV or XLSX file.")

STATE_COLORS: dict[str, str] = {
    CampaignState.DRAFT: "gray",
    CampaignState.SCHEDULED: "blue",
    CampaignState.RUNNING: "green",
    CampaignState.PAUSED: "yellow",
    CampaignState.COMPLETED: "purple",
    CampaignState.CANCELLED: "gray",
}
RECIPIENT_COLORS: dict[str, str] = {
    RecipientState.QUEUED: "gray",
    RecipientState.CLAIMED: "blue",
    RecipientState.SENT: "blue",
    RecipientState.DELIVERED: "green",
    RecipientState.READ: "green",
    RecipientState.REPLIED: "purple",
    RecipientState.FAILED: "red",
    RecipientState.SKIPPED: "yellow",
    RecipientState.UNKNOWN: "yellow",
}


def _can_manage(request) -> bool:
    principal = getattr(request, "principal", None)
    return principal is not None and principal.can(MANAGE)


def _campaign(pk: int) -> Campaign:
    return get_object_or_404(Campaign.objects.select_related("channel"), pk=pk)


def decorate(campaign: Campaign) -> Campaign:
    """Display attributes of a campaign (state colour, progress, the pause reason in words)."""
    c = campaign
    c.state_color = STATE_COLORS.get(c.state, "gray")  # type: ignore[attr-defined]
    c.done_count = max(0, c.total_count - c.queued_count)  # type: ignore[attr-defined]
    c.pause_text = selectors.pause_text(c)  # type: ignore[attr-defined]
    c.waiting_text = selectors.waiting_text(c)  # type: ignore[attr-defined]
    c.job_id = f"campaign-{c.pk}"  # type: ignore[attr-defined]
    c.counter_rows = [  # type: ignore[attr-defined]
        ("queued", _("To send"), "", c.queued_count),
        ("sent", _("Sent"), "", c.sent_count),
        ("delivered", _("Delivered"), "text-sky-700 dark:text-sky-300", c.delivered_count),
        ("read", _("Read"), "text-violet-700 dark:text-violet-300", c.read_count),
        ("replied", _("Replied"), "text-brand-700 dark:text-brand-300", c.replied_count),
        ("clicked", _("Clicked"), "", c.clicked_count),
        ("failed", _("Failed"), "text-red-700 dark:text-red-400", c.failed_count),
        ("skipped", _("Skipped"), "", c.skipped_count),
        ("unknown", _("Unknown"), "", c.unknown_count),
    ]
    c.row_job_id = f"campaign-row-{c.pk}"  # type: ignore[attr-defined]
    return c


# --- list ---------------------------------------------------------------------------------------


@require_GET
@role_required(Role.VIEWER)
def campaign_list(request):
    state = request.GET.get("state", "")
    # A cadence's send steps own campaigns of kind "cadence": the cadence pages show them.
    qs = Campaign.objects.filter(kind=CampaignKind.BROADCAST).select_related("channel").order_by("-created_at", "-id")
    if state in CampaignState.values:
        qs = qs.filter(state=state)
    page = paginate(request, qs)
    page.items = [decorate(c) for c in page.items]
    context = {
        "page": page,
        "columns": [
            _("Campaign"),
            _("State"),
            _("Progress"),
            (_("Delivered"), "hidden text-right sm:table-cell"),
            (_("Read"), "hidden text-right md:table-cell"),
            (_("Replied"), "hidden text-right lg:table-cell"),
        ],
        "state": state,
        "state_choices": CampaignState.choices,
        "can_manage": _can_manage(request),
        "has_channels": Channel.objects.filter(is_active=True).exists(),
    }
    if request.htmx and not request.htmx.boosted:
        return render(request, "campaigns/partials/campaign_table.html", context)
    return render(request, "campaigns/campaign_list.html", context)


@require_GET
@role_required(Role.VIEWER)
def campaign_row(request, pk: int):
    campaign = decorate(_campaign(pk))
    return render(request, "campaigns/partials/campaign_row.html", {"row": campaign})


# --- form ---------------------------------------------------------------------------------------


def _templates_for(channel: Channel | None) -> dict[int, MessageTemplate]:
    if channel is None:
        return {}
    return {t.pk: t for t in selectors.sendable_templates(channel=channel)}


def _form_context(request, data: CampaignInput, channel: Channel | None, templates: dict[int, MessageTemplate]):
    from inbox.limits import limit_for

    upload = AudienceUpload.objects.filter(pk=data.upload_id).first() if data.upload_id else None
    csv_columns = [h for h in (upload.headers if upload else []) if h]
    top_rate = int(limit_for(channel).rate) if channel is not None else None
    for variant in data.variants:
        variant.preview = _variant_preview(variant, channel, None)  # type: ignore[attr-defined]
    return {
        "data": data,
        "channel": channel,
        "channels": [c for c in selectors.template_channels()],
        "templates": list(templates.values()),
        "segments": Segment.objects.order_by("name"),
        "lists": ContactList.objects.order_by("name"),
        "tags": Tag.objects.order_by("name"),
        "audience_kinds": AudienceKind.choices,
        "sources": source_choices(custom_field_definitions(), csv_columns=csv_columns),
        "upload": upload,
        "weekdays": [(n, _(label)) for n, label in WEEKDAYS],
        "variant_keys": VARIANT_KEYS,
        "metrics": WinnerMetric.choices,
        "top_rate": top_rate,
        "errors": data.errors,
        "is_sms": channel is not None and channel.kind == ChannelKind.SMS,
        "time_zone": getattr(current_company(), "time_zone", "America/Sao_Paulo"),
    }


def _variant_preview(variant: VariantInput, channel: Channel | None, values):
    sms = channel is not None and channel.kind == ChannelKind.SMS
    if variant.template is not None:
        components = variant.template.components
        if channel is not None and channel.kind != ChannelKind.WHATSAPP_CLOUD:
            components = [c for c in components if str(c.get("type", "")).upper() == "BODY"]
        return phone.build(components=components, mapping=variant.mapping(), values=values, sms=sms)
    return phone.text_preview(text=variant.body, mapping=variant.mapping(), values=values, sms=sms)


def _channel_from(request) -> Channel | None:
    raw = request.POST.get("channel") or request.GET.get("channel") or ""
    if raw.isdigit():
        return Channel.objects.filter(pk=int(raw), is_active=True).first()
    channels = selectors.template_channels()
    return channels[0] if channels else None


@role_required(MANAGE)
def campaign_new(request):
    from campaigns import services

    channel = _channel_from(request)
    templates = _templates_for(channel)
    uses_templates = channel is not None and channel.kind == ChannelKind.WHATSAPP_CLOUD
    if request.method != "POST":
        data = CampaignInput(channel_id=channel.pk if channel else None, uses_templates=uses_templates)
        for key in ("segment", "list", "tag"):
            raw = request.GET.get(key, "")
            if raw.isdigit():
                data.audience_kind = {"segment": "segments", "list": "lists", "tag": "tags"}[key]
                getattr(data, f"{key}_ids").append(int(raw))
        return render(request, "campaigns/campaign_form.html", _form_context(request, data, channel, templates))
    data = CampaignInput.parse(request.POST, templates=templates, uses_templates=uses_templates)
    upload = AudienceUpload.objects.filter(pk=data.upload_id).first() if data.upload_id else None
    if data.errors or request.POST.get("action") == "refresh":
        context = _form_context(request, data, channel, templates)
        if data.errors:
            context["form_error"] = _(ERR_FIX)
        return render(request, "campaigns/campaign_form.html", context, status=400 if data.errors else 200)
    try:
        with transaction.atomic():
            campaign = services.campaign_create(
                channel=channel, upload=upload, by=request.user, **data.service_kwargs()
            )
            links.campaign_links_prepare(campaign=campaign)
    except ValidationError as exc:
        context = _form_context(request, data, channel, templates)
        context["form_error"] = " ".join(exc.messages)
        return render(request, "campaigns/campaign_form.html", context, status=400)
    messages.success(request, _(MSG_CREATED))
    return redirect("campaigns:campaign", pk=campaign.pk)


@require_POST
@role_required(MANAGE)
def campaign_form_variant(request):
    """The form again for one variant after its template or text changed: its variables and
    its phone preview (htmx)."""
    channel = _channel_from(request)
    templates = _templates_for(channel)
    uses_templates = channel is not None and channel.kind == ChannelKind.WHATSAPP_CLOUD
    data = CampaignInput.parse(request.POST, templates=templates, uses_templates=uses_templates)
    key = request.POST.get("variant") or "A"
    variant = next((v for v in data.variants if v.key == key), data.variants[0])
    context = _form_context(request, data, channel, templates)
    context.update({"variant": variant, "preview": variant.preview})  # type: ignore[attr-defined]
    return render(request, "campaigns/partials/campaign_variant_live.html", context)


@require_POST
@role_required(MANAGE)
def audience_upload(request):
    """A file uploaded as the audience (htmx): read now, then shown with its row counts."""
    from campaigns.audience_upload import audience_upload_create

    context: dict = {"upload": None, "upload_error": ""}
    upload = request.FILES.get("audience_file")
    if upload is None:
        context["upload_error"] = _(ERR_UPLOAD_FILE)
        return render(request, "campaigns/partials/audience_upload.html", context, status=400)
    try:
        context["upload"] = audience_upload_create(
            upload=upload, by=request.user, phone_column=request.POST.get("phone_column", "")
        )
    except ValidationError as exc:
        context["upload_error"] = " ".join(exc.messages)
        return render(request, "campaigns/partials/audience_upload.html", context, status=400)
    return render(request, "campaigns/partials/audience_upload.html", context)


# --- campaign page ------------------------------------------------------------------------------


def _detail_context(request, campaign: Campaign) -> dict:
    variants = list(campaign.variants.select_related("template").order_by("key"))
    context = {
        "campaign": decorate(campaign),
        "variants": variants,
        "can_manage": _can_manage(request),
        "recipient_states": RecipientState.choices,
        "time_zone": campaign.time_zone,
        "is_sms": campaign.channel.kind == ChannelKind.SMS,
    }
    if campaign.state == CampaignState.DRAFT:
        context["estimate"] = selectors.estimate(campaign)
        context["test_phone"] = request.session.get("campaigns_test_phone", "")
        context["previews"] = [(v, _variant_preview(_as_input(v), campaign.channel, None)) for v in variants]
        if campaign.channel.kind == ChannelKind.WHATSAPP_WEB:
            context["pace"] = selectors.sending_pace(campaign.channel, time_zone=campaign.time_zone)
    else:
        context["series_json"] = json.dumps(selectors.rate_series(campaign))
    return context


def _as_input(variant) -> VariantInput:
    from campaigns.forms import VariableRow

    data = VariantInput(key=variant.key, template=variant.template, body=variant.body, split=variant.split)
    mapping = {
        **((variant.template.variables or {}) if variant.template else {}),
        **(variant.campaign.variables or {}),
        **(variant.variables or {}),
    }
    for key in data.variable_keys():
        spec = mapping.get(key) or {}
        data.variables.append(
            VariableRow(
                key=key,
                label=key,
                source=str(spec.get("source") or ""),
                fallback=str(spec.get("fallback") or ""),
                value=str(spec.get("value") or ""),
            )
        )
    return data


@require_GET
@role_required(Role.VIEWER)
def campaign_detail(request, pk: int):
    campaign = _campaign(pk)
    return render(request, "campaigns/campaign_detail.html", _detail_context(request, campaign))


@require_GET
@role_required(Role.VIEWER)
def campaign_stats(request, pk: int):
    """The live part of the campaign page (state, reason, buttons, counters), fetched again
    after a burst of progress events and after a state change."""
    campaign = _campaign(pk)
    return render(
        request,
        "campaigns/partials/campaign_stats.html",
        {"campaign": decorate(campaign), "can_manage": _can_manage(request)},
    )


def _after_action(request, campaign: Campaign, message: str):
    messages.success(request, message)
    if request.htmx:
        response = HttpResponse(status=204)
        response["HX-Redirect"] = reverse("campaigns:campaign", args=[campaign.pk])
        return response
    return redirect("campaigns:campaign", pk=campaign.pk)


def _failed(request, campaign: Campaign, exc: ValidationError):
    messages.error(request, " ".join(exc.messages))
    return redirect("campaigns:campaign", pk=campaign.pk)


def _parse_when(raw: str, tz_name: str) -> dt.datetime | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        naive = dt.datetime.fromisoformat(raw)
    except ValueError:
        return None
    if naive.tzinfo is not None:
        return naive
    return naive.replace(tzinfo=zoneinfo.ZoneInfo(tz_name or "America/Sao_Paulo"))


@require_POST
@role_required(MANAGE)
def campaign_start(request, pk: int):
    from campaigns import services

    campaign = _campaign(pk)
    at = None
    if request.POST.get("when") == "later":
        at = _parse_when(request.POST.get("at", ""), campaign.time_zone)
        if at is None:
            return _failed(request, campaign, ValidationError(_(ERR_WHEN)))
        if at <= timezone.now():
            return _failed(request, campaign, ValidationError(_(services.ERR_SCHEDULE_PAST)))
    try:
        campaign = services.campaign_start(campaign=campaign, at=at, by=request.user)
    except ValidationError as exc:
        return _failed(request, campaign, exc)
    if at is not None:
        local = timezone.localtime(at, zoneinfo.ZoneInfo(campaign.time_zone))
        return _after_action(request, campaign, _(MSG_SCHEDULED) % {"when": local.strftime("%d/%m/%Y %H:%M")})
    return _after_action(request, campaign, _(MSG_STARTED))


def _lifecycle(request, pk: int, action: str, done: str):
    """Pause, resume or cancel: the service decides, the page says what happened."""
    from campaigns import services

    campaign = _campaign(pk)
    try:
        campaign = getattr(services, action)(campaign=campaign, by=request.user)
    except ValidationError as exc:
        return _failed(request, campaign, exc)
    return _after_action(request, campaign, _(done))


@require_POST
@role_required(MANAGE)
def campaign_pause(request, pk: int):
    return _lifecycle(request, pk, "campaign_pause", MSG_PAUSED)


@require_POST
@role_required(MANAGE)
def campaign_resume(request, pk: int):
    return _lifecycle(request, pk, "campaign_resume", MSG_RESUMED)


@require_POST
@role_required(MANAGE)
def campaign_cancel(request, pk: int):
    return _lifecycle(request, pk, "campaign_cancel", MSG_CANCELLED)


@require_POST
@role_required(MANAGE)
def campaign_test(request, pk: int):
    """Send the first variant to the person's own number, through the inbox's single send."""
    from campaigns.test_send import campaign_test_send

    campaign = _campaign(pk)
    raw = (request.POST.get("phone") or "").strip()
    try:
        phone_e164 = campaign_test_send(campaign=campaign, phone=raw, by=request.user)
    except ValidationError as exc:
        return _failed(request, campaign, exc)
    request.session["campaigns_test_phone"] = raw
    messages.success(request, _(MSG_TEST_SENT) % {"phone": phone_e164})
    return redirect("campaigns:campaign", pk=campaign.pk)


# --- recipients ---------------------------------------------------------------------------------


def _recipient_filters(request, campaign: Campaign):
    qs = Recipient.objects.filter(campaign=campaign)
    state = request.GET.get("state", "")
    code = (request.GET.get("code", "") or "").strip()[:20]
    variant = request.GET.get("variant", "")
    if state in RecipientState.values:
        qs = qs.filter(state=state)
    if code:
        qs = qs.filter(state=RecipientState.FAILED, error_code=code)
    if variant.isdigit():
        qs = qs.filter(variant_id=int(variant))
    return qs, {"state": state, "code": code, "variant": variant}


@require_GET
@role_required(Role.VIEWER)
def campaign_recipients(request, pk: int):
    campaign = _campaign(pk)
    qs, filters = _recipient_filters(request, campaign)
    qs = qs.only(
        "id",
        "campaign_id",
        "variant_id",
        "contact_id",
        "phone",
        "name",
        "state",
        "reason",
        "error_code",
        "error_title",
        "sent_at",
        "delivered_at",
        "read_at",
        "replied_at",
        "failed_at",
        "clicked_at",
    )
    page = paginate(request, qs, keyset="-id", count=False)
    variants = {v.pk: v.key for v in campaign.variants.all()}
    for row in page.items:
        row.state_color = RECIPIENT_COLORS.get(row.state, "gray")
        row.reason_text = recipient_reason(row)
        row.variant_key = variants.get(row.variant_id, "")
    context = {
        "campaign": campaign,
        "page": page,
        "filters": filters,
        "variants": variants,
        "recipient_states": RecipientState.choices,
        "codes": selectors.failure_codes(campaign),
    }
    return render(request, "campaigns/partials/recipients.html", context)


@require_GET
@role_required(Role.VIEWER)
def campaign_recipient(request, pk: int, rid: int):
    campaign = _campaign(pk)
    recipient = Recipient.objects.filter(campaign=campaign, pk=rid).first()
    if recipient is None:
        raise Http404
    conversation_id = None
    if recipient.message_id:
        from inbox.models import Message

        conversation_id = (
            Message.objects.filter(pk=recipient.message_id).values_list("conversation_id", flat=True).first()
        )
    context = {
        "campaign": campaign,
        "r": recipient,
        "reason": recipient_reason(recipient),
        "state_color": RECIPIENT_COLORS.get(recipient.state, "gray"),
        "variant": recipient.variant.key if recipient.variant_id and recipient.variant else "",
        "conversation_id": conversation_id,
    }
    return render(request, "campaigns/partials/recipient_detail.html", context)


@require_GET
@role_required(Role.VIEWER)
def campaign_export(request, pk: int):
    """Every recipient as CSV (``;``, UTF-8 with BOM for Excel), streamed; cells that a
    spreadsheet would run as a formula are neutralised."""
    campaign = _campaign(pk)
    qs, _filters = _recipient_filters(request, campaign)
    response = StreamingHttpResponse(selectors.export_rows(campaign, qs), content_type="text/csv; charset=utf-8")
    name = f"campanha-{campaign.pk}-{timezone.localdate():%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
