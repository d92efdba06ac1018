"""Message templates: local ones (WhatsApp Web, SMS, sandbox) and Meta's (WhatsApp Cloud),
synced from the WABA, submitted for review, edited, deleted, and moved by Meta's webhooks.

Callers check first (``campaigns.template_rules`` for Meta's create rules, roles in the
views and API) and then call these services, which trust their inputs. Graph calls go through
``inbox.providers.meta_templates``; an HTTP call is made before the write it leads to, never
inside a transaction that holds rows. Meta's refusals come back as a ``ValidationError`` in
plain words (``meta_error_message``) and change nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from campaigns.models import (
    CampaignVariant,
    MessageTemplate,
    ParameterFormat,
    TemplateOrigin,
    TemplateQuality,
    TemplateStatus,
)
from core.realtime import send_event_on_commit
from inbox.models import Channel, ChannelKind
from inbox.providers.meta_templates import TemplateApi, TemplateApiError

logger = logging.getLogger(__name__)

ERR_NOT_CLOUD = gettext_noop("Only WhatsApp Cloud API numbers have templates reviewed by WhatsApp.")
ERR_NO_WABA = gettext_noop(
    "This number has no WhatsApp Business account id. Add it in the channel settings to manage templates."
)
ERR_NOT_EDITABLE = gettext_noop(
    "WhatsApp lets you edit a template only when it is approved, rejected or paused (this one is: %(status)s)."
)
ERR_ALREADY_SUBMITTED = gettext_noop("This template was already sent to WhatsApp for review.")
ERR_NAME_TAKEN = gettext_noop("A template with this name already exists in this language.")
ERR_NOT_LOCAL = gettext_noop("Templates of WhatsApp Cloud numbers are changed through WhatsApp's review.")

# Meta's refusals in plain words, by ``error_subcode`` (create and edit) or ``code``.
META_SUBCODE_MESSAGES = {
    "2388019": gettext_noop(
        "Your WhatsApp account has reached its limit of templates. Delete templates you no longer use and try again."
    ),
    "2388023": gettext_noop(
        "This language of the template is being deleted at WhatsApp and cannot get new content for 4 weeks. "
        "Use another name."
    ),
    "2388024": gettext_noop(
        "A template with this name already exists in this language at WhatsApp. Choose another name or edit "
        "the existing one."
    ),
    "2388040": gettext_noop(
        "A part of the template is longer than WhatsApp allows (text 1,024 characters, header and footer 60, "
        "buttons 25)."
    ),
    "2388047": gettext_noop(
        "WhatsApp did not accept the header: no line breaks, emoji or formatting marks, and at most one variable."
    ),
    "2388072": gettext_noop("WhatsApp did not accept the format of the message text."),
    "2388073": gettext_noop("WhatsApp did not accept the footer: no variables and no line breaks."),
    "2388293": gettext_noop(
        "WhatsApp says the text has too many variables for its length. Write more words around them or use "
        "fewer variables."
    ),
    "2388299": gettext_noop(
        "WhatsApp does not accept a variable at the very start or end of the text. Add words before or after it."
    ),
}
META_CODE_MESSAGES = {
    "190": gettext_noop("The number's access token is invalid or expired. Reconnect the channel and try again."),
    "200": gettext_noop(
        "The number's access token cannot manage templates (it needs the whatsapp_business_management permission)."
    ),
    "10": gettext_noop(
        "The number's access token cannot manage templates (it needs the whatsapp_business_management permission)."
    ),
    "4": gettext_noop("WhatsApp is limiting requests right now. Try again in a few minutes."),
    "80008": gettext_noop("WhatsApp is limiting requests right now. Try again in a few minutes."),
    "network": gettext_noop("Could not reach WhatsApp. Try again in a moment."),
}
META_FALLBACK = gettext_noop("WhatsApp refused it: %(reason)s")

# Meta's ``rejected_reason`` / ``reason`` values in plain words.
REJECTION_REASONS = {
    "ABUSIVE_CONTENT": gettext_noop("WhatsApp found the content abusive."),
    "INCORRECT_CATEGORY": gettext_noop(
        "The category does not match the content (for example, marketing sent as utility)."
    ),
    "INVALID_FORMAT": gettext_noop("The format is invalid (variables, examples or parts WhatsApp did not accept)."),
    "PROMOTIONAL": gettext_noop("The content is promotional but the category is not marketing."),
    "SCAM": gettext_noop("WhatsApp considered the content a possible scam."),
    "TAG_CONTENT_MISMATCH": gettext_noop("The content does not match the chosen category or language."),
    "FIRST_PAUSE": gettext_noop("Paused for 3 hours because of low quality (many people blocked or reported it)."),
    "SECOND_PAUSE": gettext_noop("Paused for 6 hours because of low quality, for the second time."),
    "RATE_LIMITING_PAUSE": gettext_noop("Paused because of low quality."),
    "UNPAUSE": gettext_noop("The pause ended."),
    "DISABLED": gettext_noop("Disabled for good after repeated low quality. Create a new template."),
}

# Webhook events that are a status of ours (a few are Meta names for the same thing).
EVENT_STATUS = {
    "APPROVED": TemplateStatus.APPROVED,
    "REINSTATED": TemplateStatus.APPROVED,
    "UNPAUSED": TemplateStatus.APPROVED,
    "REJECTED": TemplateStatus.REJECTED,
    "PENDING": TemplateStatus.PENDING,
    "PAUSED": TemplateStatus.PAUSED,
    "DISABLED": TemplateStatus.DISABLED,
    "IN_APPEAL": TemplateStatus.IN_APPEAL,
    "PENDING_DELETION": TemplateStatus.PENDING_DELETION,
    "DELETED": TemplateStatus.DELETED,
    "LIMIT_EXCEEDED": TemplateStatus.LIMIT_EXCEEDED,
    "ARCHIVED": TemplateStatus.ARCHIVED,
}
QUALITY = {q.value for q in TemplateQuality}
# Attributes of a synced template we keep whole for the edit form but do not model.
EXTRA_KEYS = ("sub_category", "message_send_ttl_seconds", "library_template_name", "cta_url_link_tracking_opted_out")


def meta_error_message(exc: TemplateApiError) -> str:
    """Meta's refusal in plain, translated words (Meta's own title kept as the detail)."""
    known = META_SUBCODE_MESSAGES.get(exc.subcode) or META_CODE_MESSAGES.get(exc.code)
    if known:
        return _(known)
    reason = " ".join(part for part in (exc.user_title, exc.user_msg) if part) or exc.title or exc.details
    return _(META_FALLBACK) % {"reason": reason}


def rejection_text(reason: str) -> str:
    """A template's ``rejection_reason`` (Meta's word) in plain words, or the word itself."""
    known = REJECTION_REASONS.get((reason or "").upper())
    return _(known) if known else reason


def _api(channel: Channel) -> TemplateApi:
    if channel.kind != ChannelKind.WHATSAPP_CLOUD:
        raise ValidationError(_(ERR_NOT_CLOUD))
    try:
        return TemplateApi(channel)
    except TemplateApiError:
        raise ValidationError(_(ERR_NO_WABA)) from None


def _emit(template: MessageTemplate) -> None:
    """The templates page follows status and quality without reloading."""
    send_event_on_commit(
        {
            "type": "template",
            "op": "changed",
            "id": template.pk,
            "status": template.status,
            "quality": template.quality,
        }
    )


# --- local templates and drafts ----------------------------------------------------------------


@transaction.atomic
def template_save(
    *,
    template: MessageTemplate | None = None,
    origin: str,
    name: str,
    language: str,
    category: str,
    parameter_format: str,
    components: list[dict],
    variables: dict[str, Any],
    channel: Channel | None = None,
    by=None,
) -> MessageTemplate:
    """Create or change a template in the company's catalogue, without talking to Meta.

    Local templates are ready to send at once (APPROVED); a Meta template saved here is a
    DRAFT until ``template_submit`` (or, when it was approved, rejected or paused, the caller
    goes on with ``template_edit_submit``). Call with checked input (``template_rules``).
    """
    waba_id = str((channel.config or {}).get("waba_id", "")) if channel and origin == TemplateOrigin.META else ""
    if template is None:
        template = MessageTemplate(origin=origin, created_by_id=getattr(by, "pk", None))
        template.status = TemplateStatus.APPROVED if origin == TemplateOrigin.LOCAL else TemplateStatus.DRAFT
    template.channel = channel
    template.waba_id = waba_id if template.origin == TemplateOrigin.META else ""
    template.name = name
    template.language = language
    template.category = category
    template.parameter_format = parameter_format
    template.components = components
    template.variables = variables
    try:
        with transaction.atomic():
            template.save()
    except IntegrityError:
        raise ValidationError({"name": [_(ERR_NAME_TAKEN)]}) from None
    _emit(template)
    return template


@transaction.atomic
def template_variables_set(*, template: MessageTemplate, variables: dict[str, Any]) -> MessageTemplate:
    """Where each variable's value comes from (any status: the mapping is ours, not Meta's)."""
    template.variables = variables
    template.save(update_fields=["variables", "updated_at"])
    return template


# --- Meta: submit, edit, delete ---------------------------------------------------------------


def _with_sample(api: TemplateApi, components: list[dict], sample: tuple[bytes, str] | None) -> list[dict]:
    """Put the uploaded sample's handle into a media header's example."""
    if sample is None:
        return components
    content, mime = sample
    handle = api.upload_sample(content=content, mime=mime)
    out = []
    for part in components:
        part = dict(part)
        if str(part.get("type", "")).upper() == "HEADER" and str(part.get("format", "")).upper() != "TEXT":
            part["example"] = {"header_handle": [handle]}
        out.append(part)
    return out


def _payload_components(components: list[dict]) -> list[dict]:
    """Components as Meta takes them (a text header's ``format`` is explicit)."""
    out = []
    for part in components:
        part = dict(part)
        if str(part.get("type", "")).upper() == "HEADER":
            part["format"] = str(part.get("format") or "TEXT").upper()
        out.append(part)
    return out


def template_submit(*, template: MessageTemplate, sample: tuple[bytes, str] | None = None) -> MessageTemplate:
    """Send a draft to Meta for review (``POST /{waba_id}/message_templates``).

    ``sample``: the bytes and type of a media header's sample (uploaded first, its handle goes
    into ``example.header_handle``). Meta answers the id and a status (PENDING, or APPROVED at
    once for some utility templates) and may change the category.
    """
    if template.origin != TemplateOrigin.META or template.channel is None:
        raise ValidationError(_(ERR_NOT_CLOUD))
    if template.meta_template_id:
        raise ValidationError(_(ERR_ALREADY_SUBMITTED))
    api = _api(template.channel)
    try:
        components = _payload_components(_with_sample(api, template.components, sample))
        payload = {
            "name": template.name,
            "language": template.language,
            "category": template.category,
            "parameter_format": template.parameter_format,
            "components": components,
        }
        answer = api.create(payload)
    except TemplateApiError as exc:
        raise ValidationError(meta_error_message(exc)) from exc
    now = timezone.now()
    with transaction.atomic():
        template = MessageTemplate.objects.select_for_update().get(pk=template.pk)
        template.meta_template_id = str(answer.get("id", ""))
        template.status = EVENT_STATUS.get(str(answer.get("status", "")).upper(), TemplateStatus.PENDING)
        template.category = str(answer.get("category") or template.category)
        template.components = components
        template.waba_id = api.waba_id
        template.rejection_reason = ""
        template.submitted_at = now
        template.status_changed_at = now
        template.save()
        _emit(template)
    return template


def template_edit_submit(
    *,
    template: MessageTemplate,
    components: list[dict],
    category: str | None = None,
    sample: tuple[bytes, str] | None = None,
) -> MessageTemplate:
    """Edit a template Meta knows (``POST /{template_id}``): its components are replaced whole
    and it goes back to review. Only approved, rejected or paused templates can be edited."""
    if template.origin != TemplateOrigin.META or not template.meta_template_id or template.channel is None:
        raise ValidationError(_(ERR_NOT_CLOUD))
    if not template.is_editable:
        raise ValidationError(_(ERR_NOT_EDITABLE) % {"status": template.get_status_display()})
    api = _api(template.channel)
    try:
        components = _payload_components(_with_sample(api, components, sample))
        payload: dict[str, Any] = {"components": components}
        if category and category != template.category:
            payload["category"] = category
        api.edit(template.meta_template_id, payload)
    except TemplateApiError as exc:
        raise ValidationError(meta_error_message(exc)) from exc
    now = timezone.now()
    with transaction.atomic():
        template = MessageTemplate.objects.select_for_update().get(pk=template.pk)
        template.components = components
        if category:
            template.category = category
        template.status = TemplateStatus.PENDING
        template.rejection_reason = ""
        template.submitted_at = now
        template.status_changed_at = now
        template.save()
        _emit(template)
    return template


def _in_use(template_ids: list[int]) -> set[int]:
    return set(
        CampaignVariant.objects.filter(template_id__in=template_ids).values_list("template_id", flat=True).distinct()
    )


@transaction.atomic
def _forget(templates: list[MessageTemplate]) -> int:
    """Delete the rows no campaign refers to; the others stay as DELETED (their campaigns
    still show what was sent)."""
    ids = [t.pk for t in templates]
    used = _in_use(ids)
    now = timezone.now()
    MessageTemplate.objects.filter(pk__in=used).update(
        status=TemplateStatus.DELETED, status_changed_at=now, updated_at=now
    )
    MessageTemplate.objects.filter(pk__in=set(ids) - used).delete()
    for template in templates:
        template.status = TemplateStatus.DELETED
        _emit(template)
    return len(ids)


def template_delete(*, template: MessageTemplate, all_languages: bool = False) -> int:
    """Delete a template: at Meta (``DELETE ?name=`` for every language, or ``&hsm_id=`` for
    this one) and here. Returns how many templates (languages) went."""
    if template.origin == TemplateOrigin.LOCAL or not template.meta_template_id:
        return _forget([template])
    if template.channel is None:
        raise ValidationError(_(ERR_NOT_CLOUD))
    api = _api(template.channel)
    try:
        if all_languages:
            api.delete(name=template.name)
        else:
            api.delete(name=template.name, hsm_id=template.meta_template_id)
    except TemplateApiError as exc:
        raise ValidationError(meta_error_message(exc)) from exc
    if all_languages:
        siblings = list(MessageTemplate.objects.filter(waba_id=template.waba_id, name=template.name))
        return _forget(siblings)
    return _forget([template])


# --- Meta: sync and webhooks ------------------------------------------------------------------


@dataclass
class SyncResult:
    created: int = 0
    updated: int = 0
    removed: int = 0

    @property
    def total(self) -> int:
        return self.created + self.updated


def _remote_fields(row: dict) -> dict[str, Any]:
    quality = str((row.get("quality_score") or {}).get("score") or "UNKNOWN").upper()
    reason = str(row.get("rejected_reason") or "")
    fmt = str(row.get("parameter_format") or "POSITIONAL").upper()
    category = str(row.get("category") or "MARKETING").upper()
    return {
        "status": EVENT_STATUS.get(str(row.get("status", "")).upper(), TemplateStatus.PENDING),
        "category": category if category in {"MARKETING", "UTILITY", "AUTHENTICATION"} else "MARKETING",
        "parameter_format": fmt if fmt in {ParameterFormat.POSITIONAL, ParameterFormat.NAMED} else "POSITIONAL",
        "components": [c for c in row.get("components") or [] if isinstance(c, dict)],
        "quality": quality if quality in QUALITY else TemplateQuality.UNKNOWN,
        "rejection_reason": "" if reason in ("", "NONE") else reason[:255],
        "meta_extra": {k: row[k] for k in EXTRA_KEYS if k in row},
    }


def templates_sync(*, channel: Channel) -> SyncResult:
    """Bring the WABA's templates (``GET /{waba_id}/message_templates``, every page) into the
    catalogue. Our variable mappings are kept; templates Meta no longer returns become
    DELETED (or go, when no campaign used them)."""
    api = _api(channel)
    try:
        rows = api.list_all()
    except TemplateApiError as exc:
        raise ValidationError(meta_error_message(exc)) from exc
    result = SyncResult()
    now = timezone.now()
    with transaction.atomic():
        existing = list(MessageTemplate.objects.select_for_update().filter(waba_id=api.waba_id).order_by("pk"))
        by_id = {t.meta_template_id: t for t in existing if t.meta_template_id}
        by_key = {(t.name, t.language): t for t in existing}
        seen: set[int] = set()
        for row in rows:
            meta_id = str(row.get("id") or "")
            name, language = str(row.get("name") or "")[:512], str(row.get("language") or "")[:15]
            if not meta_id or not name or not language:
                continue
            fields = _remote_fields(row)
            template = by_id.get(meta_id) or by_key.get((name, language))
            if template is None:
                template = MessageTemplate(origin=TemplateOrigin.META, waba_id=api.waba_id, channel=channel)
                result.created += 1
            else:
                result.updated += 1
            if template.status != fields["status"]:
                template.status_changed_at = now
            for key, value in fields.items():
                setattr(template, key, value)
            template.name, template.language, template.meta_template_id = name, language, meta_id
            template.channel = template.channel or channel
            template.synced_at = now
            template.save()
            seen.add(template.pk)
        gone = [t for t in existing if t.pk not in seen and t.meta_template_id and t.status != TemplateStatus.DELETED]
        if gone:
            result.removed = _forget(gone)
    send_event_on_commit({"type": "template", "op": "synced", "channel": channel.pk})
    return result


def _when(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    return parse_datetime(value) if isinstance(value, str) and value else None


@transaction.atomic
def template_updates_apply(*, channel: Channel, updates: list[dict[str, Any]]) -> int:
    """Apply Meta's template webhooks (status and quality) carried by ``channel``'s webhook.

    A template is found by Meta's id, else by WABA, name and language. An event older than
    the last status change is ignored (Meta may deliver out of order). Returns how many
    templates changed.
    """
    channel_waba = str((channel.config or {}).get("waba_id", ""))
    ids = {str(u.get("template_id") or "") for u in updates}
    keys = {(str(u.get("name") or ""), str(u.get("language") or "")) for u in updates}
    wabas = {str(u.get("waba_id") or channel_waba) for u in updates}
    lookup = Q(meta_template_id__in=[i for i in ids if i])
    for name, language in keys:
        lookup |= Q(waba_id__in=wabas, name=name, language=language)
    rows = list(MessageTemplate.objects.select_for_update().filter(origin=TemplateOrigin.META).filter(lookup))
    by_id = {t.meta_template_id: t for t in rows if t.meta_template_id}
    by_key = {(t.waba_id, t.name, t.language): t for t in rows}
    changed: dict[int, MessageTemplate] = {}
    for update in updates:
        waba = str(update.get("waba_id") or channel_waba)
        template = by_id.get(str(update.get("template_id") or "")) or by_key.get(
            (waba, str(update.get("name") or ""), str(update.get("language") or ""))
        )
        if template is None:
            logger.info("template webhook for unknown template %s", update.get("template_id"))
            continue
        at = _when(update.get("timestamp")) or timezone.now()
        if update.get("kind") == "quality":
            quality = str(update.get("quality") or "").upper()
            if quality in QUALITY and quality != template.quality:
                template.quality = quality
                changed[template.pk] = template
            continue
        status = EVENT_STATUS.get(str(update.get("event") or "").upper())
        if status is None:
            continue  # FLAGGED, LOCKED...: informative, no status of ours
        # Meta's times have whole seconds: an event of the same second as our change is newer.
        if template.status_changed_at and at < template.status_changed_at.replace(microsecond=0):
            continue
        template.status = status
        template.status_changed_at = at
        template.meta_template_id = template.meta_template_id or str(update.get("template_id") or "")
        if status in (TemplateStatus.REJECTED, TemplateStatus.PAUSED, TemplateStatus.DISABLED):
            template.rejection_reason = str(update.get("reason") or update.get("detail") or "")[:255]
        elif status == TemplateStatus.APPROVED:
            template.rejection_reason = ""
        changed[template.pk] = template
    for template in changed.values():
        template.save(
            update_fields=[
                "status",
                "quality",
                "status_changed_at",
                "rejection_reason",
                "meta_template_id",
                "updated_at",
            ]
        )
        _emit(template)
    return len(changed)
