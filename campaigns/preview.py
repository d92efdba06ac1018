"""What a template or a campaign text looks like on the customer's phone, for a chosen contact
(or with the template's example values when no contact is chosen).

The values come from the same place the engine's snapshot reads them (``campaigns.rendering``:
a contact's ``contact.*`` and ``field.*`` sources, each variable's fallback when empty), so
the preview shows what will be sent. WhatsApp's own formatting (``*bold*``, ``_italic_``,
``~strike~``, ```` ```mono``` ````) is drawn as the phone draws it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from campaigns import rendering
from campaigns.template_rules import MEDIA_FORMATS, examples_of, template_variable_keys
from inbox.providers.sms import sms_segments

_FORMATS = [
    (re.compile(r"```(.+?)```", re.S), r'<code class="font-mono">\1</code>'),
    (re.compile(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])"), r"<strong>\1</strong>"),
    (re.compile(r"(?<![\w_])_(?=\S)(.+?)(?<=\S)_(?![\w_])"), r"<em>\1</em>"),
    (re.compile(r"(?<![\w~])~(?=\S)(.+?)(?<=\S)~(?![\w~])"), r"<s>\1</s>"),
]
_LINK = re.compile(r"(https?://[^\s<]+[^\s<.,;:!?)\]'\"])")


def whatsapp_html(text: str) -> SafeString:
    """``text`` escaped, then WhatsApp's formatting, links and line breaks as HTML."""
    html = str(escape(text or ""))
    for pattern, replacement in _FORMATS:
        html = pattern.sub(replacement, html)
    html = _LINK.sub(r'<span class="text-sky-700 underline dark:text-sky-300">\1</span>', html)
    return mark_safe(html.replace("\n", "<br>"))  # noqa: S308 - escaped above, tags are ours


def contact_values(contact) -> dict[str, Any]:
    """The source values of ``contact``, as the audience snapshot takes them in SQL."""
    name = contact.name or ""
    values: dict[str, Any] = {
        "contact.name": name,
        "contact.first_name": name.split(" ")[0] if name else "",
        "contact.phone": contact.phone,
        "contact.email": contact.email,
    }
    for key, value in (contact.custom_fields or {}).items():
        values[f"field.{key}"] = "" if value is None else str(value)
    return values


def example_mapping(components: list[dict], mapping: dict[str, Any] | None = None) -> dict[str, Any]:
    """A mapping that shows, when no contact is chosen, each variable's example for WhatsApp's
    review, else its fixed text or fallback, else the variable itself."""
    examples = examples_of(components)
    out: dict[str, Any] = {}
    for key in template_variable_keys(components):
        spec = (mapping or {}).get(key) or {}
        example_key = key[: -len(".1")] if key.startswith("button.") else key
        raw = key.split(".")[-1] if not key.startswith("button.") else "1"
        shown = examples.get(example_key) or spec.get("value") or spec.get("fallback") or "{{" + raw + "}}"
        out[key] = {"source": "static", "value": shown}
    return out


@dataclass
class Button:
    kind: str  # QUICK_REPLY, URL, PHONE_NUMBER, COPY_CODE...
    text: str
    target: str = ""


@dataclass
class SmsInfo:
    encoding: str
    segments: int
    characters: int
    per_segment: int

    @property
    def is_unicode(self) -> bool:
        return self.encoding == "UCS-2"


@dataclass
class Preview:
    header_kind: str = ""  # "", TEXT, IMAGE, VIDEO, DOCUMENT
    header_text: str = ""
    body: SafeString = field(default_factory=lambda: mark_safe(""))
    body_text: str = ""
    footer: str = ""
    buttons: list[Button] = field(default_factory=list)
    sms: SmsInfo | None = None

    @property
    def has_media(self) -> bool:
        return self.header_kind in MEDIA_FORMATS


def sms_info(text: str) -> SmsInfo:
    """GSM-7 or UCS-2 and the number of segments (the engine bills with the same function)."""
    encoding, segments = sms_segments(text or "")
    if encoding == "GSM-7":
        per = 160 if segments == 1 else 153
        count = sum(2 if ch in "^{}\\[~]|€\f" else 1 for ch in text or "")
    else:
        per = 70 if segments == 1 else 67
        count = sum(2 if ord(ch) > 0xFFFF else 1 for ch in text or "")
    return SmsInfo(encoding=encoding, segments=segments, characters=count, per_segment=per)


def build(
    *, components: list[dict], mapping: dict[str, Any], values: dict[str, Any] | None, sms: bool = False
) -> Preview:
    """The phone view of ``components`` (Meta's format) for a contact's ``values`` (``None``:
    the examples). ``mapping`` is the template's variable mapping, merged with a campaign's."""
    effective = dict(mapping or {})
    if values is None:
        effective = {**effective, **example_mapping(components, mapping)}
        values = {}
    for key in template_variable_keys(components):
        if not (effective.get(key) or {}).get("source"):
            # Not mapped yet: show the variable itself, so the gap is visible.
            raw = "1" if key.startswith("button.") else key.split(".")[-1]
            effective[key] = {"source": "static", "value": "{{" + raw + "}}"}
    preview = Preview()
    for part in components or []:
        kind = str(part.get("type", "")).upper()
        if kind == "HEADER":
            preview.header_kind = str(part.get("format") or "TEXT").upper()
            if preview.header_kind == "TEXT":
                preview.header_text = rendering.VARIABLE_RE.sub(
                    lambda m: rendering.value_for(effective.get("header." + m.group(1)), values),
                    str(part.get("text") or ""),
                )
        elif kind == "BODY":
            preview.body_text = rendering.render_text(str(part.get("text") or ""), effective, values)
            preview.body = whatsapp_html(preview.body_text)
        elif kind == "FOOTER":
            preview.footer = str(part.get("text") or "")
        elif kind == "BUTTONS":
            for index, button in enumerate(part.get("buttons") or []):
                btype = str(button.get("type", "")).upper()
                target = ""
                if btype == "URL":
                    suffix = rendering.value_for(effective.get(f"button.{index}.1"), values)
                    target = rendering.VARIABLE_RE.sub(suffix.replace("\\", "\\\\"), str(button.get("url") or ""))
                elif btype == "PHONE_NUMBER":
                    target = str(button.get("phone_number") or "")
                preview.buttons.append(Button(kind=btype, text=str(button.get("text") or ""), target=target))
    if sms:
        preview.sms = sms_info(preview.body_text)
    return preview


def text_preview(*, text: str, mapping: dict[str, Any], values: dict[str, Any] | None, sms: bool = False) -> Preview:
    """A campaign's free text (WhatsApp Web, SMS, sandbox) as the phone shows it."""
    return build(components=[{"type": "BODY", "text": text}], mapping=mapping, values=values, sms=sms)
