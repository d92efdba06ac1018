"""Step settings: validation of each kind's ``config`` and the campaign behind a send step.

``config_clean(kind=..., config=..., cadence=...)`` returns the cleaned config or raises a
``ValidationError`` with one of the translated messages below (pages and the API show it).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from cadences import extensions
from cadences.models import Cadence, CadenceStep, StepKind
from cadences.schedule import WAIT_UNITS, parse_time

ERR_KIND = gettext_noop("Choose what the step does.")
ERR_SEND_CONTENT = gettext_noop("Write the message or choose a template.")
ERR_SEND_TEMPLATE = gettext_noop("A WhatsApp Cloud API number can only start a conversation with an approved template.")
ERR_TEMPLATE_NOT_APPROVED = gettext_noop("That template is not approved for sending.")
ERR_WAIT_AMOUNT = gettext_noop("A wait is a whole number between 1 and 365 of minutes, hours, days or business days.")
ERR_WAIT_AT = gettext_noop("Write the time as HH:MM, for example 09:30.")
ERR_CONDITION = gettext_noop("Choose the branch's condition.")
ERR_CONDITION_TAG = gettext_noop("Choose the tag the branch looks at.")
ERR_CONDITION_FIELD = gettext_noop("Choose the custom field the branch looks at.")
ERR_TARGET = gettext_noop("A branch can go to the next step, a later step, or leave the cadence.")
ERR_ACTION = gettext_noop("Choose the action.")
ERR_ACTION_TAG = gettext_noop("Choose the tag.")
ERR_ACTION_USER = gettext_noop("Choose a member of the company.")
ERR_ACTION_NOTE = gettext_noop("Write the note.")

CONDITIONS = ("replied", "has_tag", "lacks_tag", "field_equals", "read_last")
ACTIONS = ("add_tag", "remove_tag", "set_owner", "add_note", "assign_conversation", "notify_agent")


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _target(value: Any, *, cadence: Cadence, position: int | None) -> str:
    value = str(value or "next")
    if value in ("next", "exit"):
        return value
    step_id = _int(value.removeprefix("step:"))
    if step_id is None:
        raise ValidationError(_(ERR_TARGET))
    later = CadenceStep.objects.filter(cadence=cadence, pk=step_id)
    if position is not None:
        later = later.filter(position__gt=position)
    if not later.exists():
        raise ValidationError(_(ERR_TARGET))
    return f"step:{step_id}"


def config_clean(*, kind: str, config: dict[str, Any] | None, cadence: Cadence, position: int | None = None) -> dict:
    config = dict(config or {})
    if kind == StepKind.SEND:
        return _send_clean(config, cadence)
    if kind == StepKind.WAIT:
        amount = _int(config.get("amount"))
        unit = str(config.get("unit") or "days")
        if amount is None or not (1 <= amount <= 365) or unit not in WAIT_UNITS:
            raise ValidationError(_(ERR_WAIT_AMOUNT))
        try:
            at = parse_time(config.get("at"))
        except (TypeError, ValueError):
            raise ValidationError(_(ERR_WAIT_AT)) from None
        return {"amount": amount, "unit": unit, "at": at.strftime("%H:%M") if at else ""}
    if kind == StepKind.BRANCH:
        condition = str(config.get("condition") or "")
        if condition not in CONDITIONS:
            raise ValidationError(_(ERR_CONDITION))
        out: dict[str, Any] = {"condition": condition}
        if condition in ("has_tag", "lacks_tag"):
            from crm.models import Tag

            tag_id = _int(config.get("tag_id"))
            if tag_id is None or not Tag.objects.filter(pk=tag_id).exists():
                raise ValidationError(_(ERR_CONDITION_TAG))
            out["tag_id"] = tag_id
        if condition == "field_equals":
            from crm.models import CustomFieldDefinition

            field = str(config.get("field") or "")
            if not CustomFieldDefinition.objects.filter(key=field).exists():
                raise ValidationError(_(ERR_CONDITION_FIELD))
            out["field"] = field
            out["value"] = str(config.get("value") or "")[:200]
        out["then"] = _target(config.get("then"), cadence=cadence, position=position)
        out["else"] = _target(config.get("else"), cadence=cadence, position=position)
        return out
    if kind == StepKind.ACTION:
        action = str(config.get("action") or "")
        if action in extensions.actions():
            return extensions.actions()[action].clean(config)
        if action not in ACTIONS:
            raise ValidationError(_(ERR_ACTION))
        if action in ("add_tag", "remove_tag"):
            from crm.models import Tag

            tag_id = _int(config.get("tag_id"))
            if tag_id is None or not Tag.objects.filter(pk=tag_id).exists():
                raise ValidationError(_(ERR_ACTION_TAG))
            return {"action": action, "tag_id": tag_id}
        if action in ("set_owner", "assign_conversation", "notify_agent"):
            user_id = _int(config.get("user_id"))
            if user_id is None or not _is_member(user_id):
                raise ValidationError(_(ERR_ACTION_USER))
            out = {"action": action, "user_id": user_id}
            if action == "notify_agent":
                out["text"] = str(config.get("text") or "")[:300]
            return out
        text = str(config.get("text") or "").strip()
        if not text:
            raise ValidationError(_(ERR_ACTION_NOTE))
        return {"action": action, "text": text[:2000]}
    raise ValidationError(_(ERR_KIND))


def _is_member(user_id: int) -> bool:
    from tenants.context import current_company
    from tenants.models import Membership

    return Membership.objects.filter(company_id=current_company().pk, user_id=user_id).exists()


def _send_clean(config: dict[str, Any], cadence: Cadence) -> dict:
    from campaigns.models import MessageTemplate

    template_id = _int(config.get("template"))
    body = str(config.get("body") or "").strip()
    variables = config.get("variables") if isinstance(config.get("variables"), dict) else {}
    template = None
    if template_id is not None:
        template = MessageTemplate.objects.filter(pk=template_id).first()
        if template is None or not template.is_sendable:
            raise ValidationError(_(ERR_TEMPLATE_NOT_APPROVED))
    if cadence.channel.kind == "whatsapp_cloud" and template is None:
        raise ValidationError(_(ERR_SEND_TEMPLATE))
    if template is None and not body:
        raise ValidationError(_(ERR_SEND_CONTENT))
    return {"template": template.pk if template else None, "body": body[:4096], "variables": variables}


def step_campaign_sync(*, step: CadenceStep) -> None:
    """Give a send step its campaign (kind ``cadence``, the cadence's channel and window) or
    bring the campaign's content up to date. Rows already queued keep going out; new rows
    take the new content (the engine reads the variant at the start of each run)."""
    from campaigns.dispatch.handoff import cadence_campaign_open
    from campaigns.models import CampaignKind, CampaignVariant, MessageTemplate
    from campaigns.services import campaign_create

    cadence = step.cadence
    template = (
        MessageTemplate.objects.filter(pk=step.config.get("template")).first() if step.config.get("template") else None
    )
    name = f"{cadence.name} · {step.position + 1}"[:120]
    if step.campaign_id is None:
        campaign = campaign_create(
            name=name,
            channel=cadence.channel,
            variants=[
                {
                    "template": template,
                    "body": step.config.get("body", ""),
                    "split": 100,
                    "variables": step.config.get("variables") or {},
                }
            ],
            audience_kind="all",
            kind=CampaignKind.CADENCE,
            time_zone=cadence.time_zone,
            window_start=cadence.window_start if cadence.window_end else None,
            window_end=cadence.window_end if cadence.window_start else None,
            window_days=list(cadence.weekdays),
        )
        step.campaign = campaign
        step.save(update_fields=["campaign", "updated_at"])
        cadence_campaign_open(campaign_id=campaign.pk)
        return
    CampaignVariant.objects.filter(campaign_id=step.campaign_id, key="A").update(
        template=template, body=step.config.get("body", ""), variables=step.config.get("variables") or {}
    )
    from campaigns.models import Campaign

    Campaign.objects.filter(pk=step.campaign_id).update(
        name=name,
        channel=cadence.channel,
        time_zone=cadence.time_zone,
        window_start=cadence.window_start if cadence.window_end else None,
        window_end=cadence.window_end if cadence.window_start else None,
        window_days=list(cadence.weekdays),
    )


def wait_describe(config: dict) -> str:
    units = {
        "minutes": _("minutes"),
        "hours": _("hours"),
        "days": _("days"),
        "business_days": _("business days"),
    }
    text = f"{config.get('amount', 0)} {units.get(config.get('unit', 'days'), '')}"
    if config.get("at"):
        text += " " + _("then at %(time)s") % {"time": config["at"]}
    return text


def time_or_none(value: Any) -> dt.time | None:
    try:
        return parse_time(value)
    except (TypeError, ValueError):
        return None
