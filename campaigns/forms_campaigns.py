"""The campaign form: channel, content (an approved template or a text, with up to 3 A/B
variants), audience (segments, lists, tags, everyone, or an uploaded file), send window, rate,
and the A/B test share. Read from the POST into what ``campaigns.services.campaign_create``
takes; the service checks what a start needs, this form what only a person can get wrong
(numbers, times, splits that are not numbers).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from campaigns.forms import VariableRow, variable_label
from campaigns.models import AudienceKind, MessageTemplate, WinnerMetric
from campaigns.rendering import text_variables
from campaigns.template_rules import template_variable_keys

VARIANT_KEYS = ("A", "B", "C")
ERR_NUMBER = gettext_noop("Enter a whole number.")
ERR_TIME = gettext_noop("Enter a time such as 08:00.")
ERR_WINDOW_ORDER = gettext_noop("The window must end after it starts (e.g. 08:00 to 20:00).")
ERR_WINDOW_DAYS = gettext_noop("Choose at least one day of the week.")
ERR_SHARE = gettext_noop("The test share must be between 1% and 90%.")
ERR_WAIT = gettext_noop("Wait between 1 and 72 hours before choosing the winner.")
ERR_TEMPLATE_CHOICE = gettext_noop("Choose an approved template for variant %(key)s.")
ERR_BODY = gettext_noop("Write the message of variant %(key)s.")
ERR_BODY_LENGTH = gettext_noop("The message of variant %(key)s can have at most 4,096 characters.")
ERR_UPLOAD = gettext_noop("Upload the file with the audience first.")

WEEKDAYS = [
    (0, gettext_noop("Mon")),
    (1, gettext_noop("Tue")),
    (2, gettext_noop("Wed")),
    (3, gettext_noop("Thu")),
    (4, gettext_noop("Fri")),
    (5, gettext_noop("Sat")),
    (6, gettext_noop("Sun")),
]


def _int(raw: Any) -> int | None:
    try:
        return int(str(raw).strip())
    except (TypeError, ValueError):
        return None


def _ids(values: list[str]) -> list[int]:
    out = []
    for value in values:
        number = _int(value)
        if number is not None and number > 0 and number not in out:
            out.append(number)
    return out


def _time(raw: str) -> dt.time | None:
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        return dt.time.fromisoformat(raw)
    except ValueError:
        return None


@dataclass
class VariantInput:
    key: str
    template_id: int | None = None
    template: MessageTemplate | None = None
    body: str = ""
    split: int = 100
    variables: list[VariableRow] = field(default_factory=list)

    def mapping(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for row in self.variables:
            if row.source == "static":
                out[row.key] = {"source": "static", "value": row.value}
            else:
                out[row.key] = {"source": row.source, "fallback": row.fallback}
        return out

    def variable_keys(self) -> list[str]:
        if self.template is not None:
            return template_variable_keys(self.template.components)
        return text_variables(self.body)


@dataclass
class CampaignInput:
    name: str = ""
    channel_id: int | None = None
    uses_templates: bool = False
    variants: list[VariantInput] = field(default_factory=lambda: [VariantInput("A")])
    audience_kind: str = AudienceKind.SEGMENTS
    segment_ids: list[int] = field(default_factory=list)
    list_ids: list[int] = field(default_factory=list)
    tag_ids: list[int] = field(default_factory=list)
    upload_id: int | None = None
    window: bool = False
    window_start: dt.time | None = None
    window_end: dt.time | None = None
    window_days: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4, 5])
    rate_mps: int | None = None
    ab_test_share: int = 0
    ab_winner_metric: str = WinnerMetric.READ
    ab_wait_hours: int = 4
    errors: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ab(self) -> bool:
        return len(self.variants) > 1

    def error(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    @property
    def ab_wait(self) -> dt.timedelta | None:
        return dt.timedelta(hours=self.ab_wait_hours) if self.ab and self.ab_test_share else None

    @classmethod
    def parse(cls, post, *, templates: dict[int, MessageTemplate], uses_templates: bool) -> CampaignInput:
        data = cls(name=(post.get("name") or "").strip()[:120], uses_templates=uses_templates)
        data.channel_id = _int(post.get("channel"))
        count = _int(post.get("variant_count")) or 1
        count = max(1, min(count, len(VARIANT_KEYS)))
        data.variants = []
        for key in VARIANT_KEYS[:count]:
            variant = VariantInput(key=key)
            variant.template_id = _int(post.get(f"variant_{key}_template"))
            variant.template = templates.get(variant.template_id or 0)
            variant.body = (post.get(f"variant_{key}_body") or "").replace("\r\n", "\n").strip()
            split = _int(post.get(f"variant_{key}_split")) if count > 1 else 100
            if split is None or not 0 < split <= 100:
                data.error(f"variant_{key}_split", _(ERR_NUMBER))
                split = 0
            variant.split = split
            if uses_templates and variant.template is None:
                data.error(f"variant_{key}", _(ERR_TEMPLATE_CHOICE) % {"key": key})
            if not uses_templates and variant.template is None:
                if not variant.body:
                    data.error(f"variant_{key}", _(ERR_BODY) % {"key": key})
                elif len(variant.body) > 4096:
                    data.error(f"variant_{key}", _(ERR_BODY_LENGTH) % {"key": key})
            defaults = (variant.template.variables or {}) if variant.template is not None else {}
            for var_key in variant.variable_keys():
                spec = defaults.get(var_key) or {}
                prefix = f"var_{key}_"
                variant.variables.append(
                    VariableRow(
                        key=var_key,
                        label=variable_label(var_key),
                        source=post.get(f"{prefix}source_{var_key}") or spec.get("source") or "contact.first_name",
                        fallback=(post.get(f"{prefix}fallback_{var_key}") or spec.get("fallback") or "").strip()[:200],
                        value=(post.get(f"{prefix}value_{var_key}") or spec.get("value") or "").strip()[:200],
                    )
                )
            data.variants.append(variant)

        kind = post.get("audience_kind") or AudienceKind.SEGMENTS
        data.audience_kind = kind if kind in AudienceKind.values else AudienceKind.SEGMENTS
        data.segment_ids = _ids(post.getlist("segments"))
        data.list_ids = _ids(post.getlist("lists"))
        data.tag_ids = _ids(post.getlist("tags"))
        data.upload_id = _int(post.get("upload"))
        if data.audience_kind == AudienceKind.UPLOAD and not data.upload_id:
            data.error("audience", _(ERR_UPLOAD))

        data.window = post.get("window") == "on"
        if data.window:
            data.window_start = _time(post.get("window_start", ""))
            data.window_end = _time(post.get("window_end", ""))
            if data.window_start is None or data.window_end is None:
                data.error("window", _(ERR_TIME))
            elif data.window_end <= data.window_start:
                data.error("window", _(ERR_WINDOW_ORDER))
            data.window_days = sorted({int(d) for d in post.getlist("window_days") if d.isdigit() and int(d) <= 6})
            if not data.window_days:
                data.error("window", _(ERR_WINDOW_DAYS))
        raw_rate = (post.get("rate_mps") or "").strip()
        if raw_rate:
            data.rate_mps = _int(raw_rate)
            if data.rate_mps is None:
                data.error("rate_mps", _(ERR_NUMBER))
        if data.ab:
            if post.get("ab_test") == "on":
                share = _int(post.get("ab_test_share"))
                if share is None or not 1 <= share <= 90:
                    data.error("ab", _(ERR_SHARE))
                else:
                    data.ab_test_share = share
                wait = _int(post.get("ab_wait_hours"))
                if wait is None or not 1 <= wait <= 72:
                    data.error("ab", _(ERR_WAIT))
                else:
                    data.ab_wait_hours = wait
            metric = post.get("ab_winner_metric") or WinnerMetric.READ
            data.ab_winner_metric = metric if metric in WinnerMetric.values else WinnerMetric.READ
        return data

    def service_kwargs(self) -> dict[str, Any]:
        """The arguments of ``campaign_create`` (channel, upload and ``by`` added by the caller)."""
        return {
            "name": self.name,
            "variants": [
                {
                    "template": v.template,
                    "body": "" if v.template is not None else v.body,
                    "split": v.split,
                    "variables": v.mapping(),
                }
                for v in self.variants
            ],
            "audience_kind": self.audience_kind,
            "segment_ids": self.segment_ids,
            "list_ids": self.list_ids,
            "tag_ids": self.tag_ids,
            "window_start": self.window_start if self.window else None,
            "window_end": self.window_end if self.window else None,
            "window_days": self.window_days if self.window else None,
            "rate_mps": self.rate_mps,
            "ab_test_share": self.ab_test_share,
            "ab_winner_metric": self.ab_winner_metric,
            "ab_wait": self.ab_wait,
        }
