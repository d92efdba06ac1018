"""Forms of the campaigns pages: the template builder (header, body, footer, buttons, and each
variable's source, fallback and example), read from the POST into Meta's ``components`` and
checked with Meta's rules (``campaigns.template_rules``) before anything is saved or sent.

The builder is not a plain Django form: the variables it asks about depend on the text being
typed. ``TemplateInput.parse`` turns the POST into components, a variable mapping, examples
and the problems to show next to each field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.utils.translation import gettext_lazy, gettext_noop

from campaigns.models import MessageTemplate, TemplateCategory, TemplateOrigin
from campaigns.template_rules import (
    MEDIA_FORMATS,
    Problem,
    examples_of,
    guess_format,
    template_problems,
    template_variable_keys,
    with_examples,
)

MAX_BUTTON_ROWS = 10
MAX_SAMPLE_BYTES = 16 * 1024 * 1024
SAMPLE_TYPES = {
    "IMAGE": ("image/jpeg", "image/png"),
    "VIDEO": ("video/mp4", "video/3gpp"),
    "DOCUMENT": ("application/pdf",),
}
ERR_CHANNEL = gettext_noop("Choose the number this template is for.")
ERR_SAMPLE_TYPE = gettext_noop("The sample must be a %(types)s file of at most 16 MB.")
ERR_SOURCE = gettext_noop("Choose where the value of %(variable)s comes from.")
ERR_TRACKED_URL = gettext_noop("Button %(n)s: enter the address the tracked link opens, starting with https://.")

# Languages offered first (Meta accepts many more; a synced template keeps its own).
LANGUAGES = [
    ("pt_BR", gettext_lazy("Portuguese (Brazil)")),
    ("pt_PT", gettext_lazy("Portuguese (Portugal)")),
    ("en_US", gettext_lazy("English (US)")),
    ("en_GB", gettext_lazy("English (UK)")),
    ("es", gettext_lazy("Spanish")),
    ("es_AR", gettext_lazy("Spanish (Argentina)")),
    ("es_MX", gettext_lazy("Spanish (Mexico)")),
    ("fr", gettext_lazy("French")),
    ("it", gettext_lazy("Italian")),
    ("de", gettext_lazy("German")),
]
HEADER_FORMATS = [
    ("", gettext_lazy("No header")),
    ("TEXT", gettext_lazy("Text")),
    ("IMAGE", gettext_lazy("Image")),
    ("VIDEO", gettext_lazy("Video")),
    ("DOCUMENT", gettext_lazy("Document (PDF)")),
]
BUTTON_TYPES = [
    ("", gettext_lazy("No button")),
    ("QUICK_REPLY", gettext_lazy("Quick reply")),
    ("URL", gettext_lazy("Link")),
    ("PHONE_NUMBER", gettext_lazy("Call a phone number")),
]


def source_choices(definitions, *, csv_columns: list[str] | None = None) -> list[tuple[str, Any]]:
    """Where a variable's value can come from: contact fields, custom fields, a fixed text,
    and the columns of a campaign's uploaded file."""
    choices: list[tuple[str, Any]] = [
        ("contact.first_name", gettext_lazy("First name")),
        ("contact.name", gettext_lazy("Full name")),
        ("contact.phone", gettext_lazy("Phone")),
        ("contact.email", gettext_lazy("Email")),
    ]
    choices += [(f"field.{d.key}", d.label) for d in definitions]
    choices += [(f"csv.{column}", column) for column in csv_columns or []]
    choices.append(("static", gettext_lazy("Fixed text")))
    return choices


def variable_label(key: str) -> str:
    """How the form names a variable key (``header.1`` -> ``{{1}} (header)``)."""
    if key.startswith("header."):
        return "{{" + key.split(".", 1)[1] + "}} · " + str(gettext_lazy("header"))
    if key.startswith("button."):
        return "{{1}} · " + str(gettext_lazy("button %(n)s")) % {"n": int(key.split(".")[1]) + 1}
    return "{{" + key + "}}"


def _example_key(key: str) -> str:
    return key[: -len(".1")] if key.startswith("button.") else key


@dataclass
class VariableRow:
    key: str
    label: str
    source: str = "contact.first_name"
    fallback: str = ""
    value: str = ""
    example: str = ""
    errors: list[str] = field(default_factory=list)


@dataclass
class ButtonRow:
    index: int
    kind: str = ""
    text: str = ""
    url: str = ""  # a tracked button: the destination (the button itself points at our redirect)
    phone: str = ""
    track: bool = False


@dataclass
class TemplateInput:
    """The builder's content, as the POST gave it and as Meta will get it."""

    channel_id: int | None = None
    origin: str = TemplateOrigin.LOCAL
    name: str = ""
    language: str = "pt_BR"
    category: str = TemplateCategory.MARKETING
    header_format: str = ""
    header_text: str = ""
    body: str = ""
    footer: str = ""
    buttons: list[ButtonRow] = field(default_factory=list)
    variables: list[VariableRow] = field(default_factory=list)
    sample: tuple[bytes, str] | None = None
    problems: list[Problem] = field(default_factory=list)

    @property
    def parameter_format(self) -> str:
        return guess_format([self.body, self.header_text])

    @property
    def shown_buttons(self) -> int:
        """Button rows the form opens with: the used ones, at least one."""
        return max(1, sum(1 for b in self.buttons if b.kind))

    @property
    def is_local(self) -> bool:
        return self.origin == TemplateOrigin.LOCAL

    def raw_components(self) -> list[dict]:
        components: list[dict] = []
        if not self.is_local and self.header_format == "TEXT" and self.header_text.strip():
            components.append({"type": "HEADER", "format": "TEXT", "text": self.header_text.strip()})
        elif not self.is_local and self.header_format in MEDIA_FORMATS:
            components.append({"type": "HEADER", "format": self.header_format})
        components.append({"type": "BODY", "text": self.body.strip()})
        if not self.is_local and self.footer.strip():
            components.append({"type": "FOOTER", "text": self.footer.strip()})
        buttons = []
        for row in self.buttons:
            if not row.kind:
                continue
            button: dict[str, Any] = {"type": row.kind, "text": row.text.strip()}
            if row.kind == "URL" and row.track:
                # Clicks are counted: the button opens our short redirect, whose code (one
                # per recipient) is the variable suffix; the destination is in the mapping.
                from campaigns.links import short_base

                button["url"] = short_base() + "{{1}}"
            elif row.kind == "URL":
                button["url"] = row.url.strip()
            if row.kind == "PHONE_NUMBER":
                button["phone_number"] = row.phone.strip()
            buttons.append(button)
        if buttons and not self.is_local:
            components.append({"type": "BUTTONS", "buttons": buttons})
        return components

    def tracked_buttons(self) -> list[tuple[int, ButtonRow]]:
        """``(index among the template's buttons, row)`` of the buttons whose clicks count."""
        used = [row for row in self.buttons if row.kind]
        return [(index, row) for index, row in enumerate(used) if row.kind == "URL" and row.track]

    def examples(self) -> dict[str, str]:
        examples = {_example_key(v.key): v.example.strip() for v in self.variables}
        for index, _row in self.tracked_buttons():
            examples[f"button.{index}"] = "AbC123"  # what a short code looks like to the reviewer
        return examples

    def components(self) -> list[dict]:
        """Meta's components with the examples (what is saved and submitted); local templates
        are never reviewed and keep none."""
        if self.is_local:
            return self.raw_components()
        return with_examples(self.raw_components(), self.parameter_format, self.examples())

    def mapping(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for row in self.variables:
            if row.source == "static":
                out[row.key] = {"source": "static", "value": row.value}
            else:
                out[row.key] = {"source": row.source, "fallback": row.fallback}
        for index, button in self.tracked_buttons():
            out[f"button.{index}.1"] = {"source": f"link.button.{index}", "url": button.url.strip()}
        return out

    def variable_keys(self) -> list[str]:
        """The variables the form asks about (a tracked button's suffix is ours, not asked)."""
        tracked = {f"button.{index}.1" for index, _row in self.tracked_buttons()}
        return [key for key in template_variable_keys(self.raw_components()) if key not in tracked]

    def errors_by_field(self) -> dict[str, list[str]]:
        """Problems by form field; a variable's own problems also go onto its row."""
        errors: dict[str, list[str]] = {}
        for problem in self.problems:
            errors.setdefault(problem.field, []).append(problem.message)
        for row in self.variables:
            row.errors = errors.get(f"example.{_example_key(row.key)}", []) + errors.get(f"var.{row.key}", [])
        return errors

    # --- reading ----------------------------------------------------------------------------

    @classmethod
    def from_template(cls, template: MessageTemplate) -> TemplateInput:
        data = cls(
            channel_id=template.channel_id,
            origin=template.origin,
            name=template.name,
            language=template.language,
            category=template.category,
        )
        for part in template.components or []:
            kind = str(part.get("type", "")).upper()
            if kind == "HEADER":
                data.header_format = str(part.get("format") or "TEXT").upper()
                data.header_text = str(part.get("text") or "")
            elif kind == "BODY":
                data.body = str(part.get("text") or "")
            elif kind == "FOOTER":
                data.footer = str(part.get("text") or "")
            elif kind == "BUTTONS":
                from campaigns.links import is_tracked_button

                for index, button in enumerate(part.get("buttons") or []):
                    url = str(button.get("url") or "")
                    track = is_tracked_button(url)
                    if track:
                        url = str(((template.variables or {}).get(f"button.{index}.1") or {}).get("url") or "")
                    data.buttons.append(
                        ButtonRow(
                            index=index,
                            kind=str(button.get("type", "")).upper(),
                            text=str(button.get("text") or ""),
                            url=url,
                            phone=str(button.get("phone_number") or ""),
                            track=track,
                        )
                    )
        examples = examples_of(template.components)
        tracked = {f"button.{index}.1" for index, _row in data.tracked_buttons()}
        for key in template_variable_keys(template.components):
            if key in tracked:
                continue
            spec = (template.variables or {}).get(key) or {}
            data.variables.append(
                VariableRow(
                    key=key,
                    label=variable_label(key),
                    source=str(spec.get("source") or "contact.first_name"),
                    fallback=str(spec.get("fallback") or ""),
                    value=str(spec.get("value") or ""),
                    example=examples.get(_example_key(key), ""),
                )
            )
        data.pad_buttons()
        return data

    @classmethod
    def parse(cls, post, files=None, *, origin: str, channel_id: int | None) -> TemplateInput:
        """Read the builder's POST (``files``: the media header's sample). Never raises: what
        is wrong ends up in ``problems``."""
        data = cls(
            channel_id=channel_id,
            origin=origin,
            name=(post.get("name") or "").strip(),
            language=(post.get("language") or "pt_BR").strip()[:15],
            category=(post.get("category") or TemplateCategory.MARKETING).upper(),
            header_format=(post.get("header_format") or "").upper(),
            header_text=post.get("header_text") or "",
            body=(post.get("body") or "").replace("\r\n", "\n"),
            footer=post.get("footer") or "",
        )
        if data.category not in TemplateCategory.values:
            data.category = TemplateCategory.MARKETING
        if data.header_format not in {"", "TEXT", *MEDIA_FORMATS}:
            data.header_format = ""
        for index in range(MAX_BUTTON_ROWS):
            kind = (post.get(f"button_type_{index}") or "").upper()
            data.buttons.append(
                ButtonRow(
                    index=index,
                    kind=kind if kind in {"QUICK_REPLY", "URL", "PHONE_NUMBER"} else "",
                    text=post.get(f"button_text_{index}") or "",
                    url=post.get(f"button_url_{index}") or "",
                    phone=post.get(f"button_phone_{index}") or "",
                    track=post.get(f"button_track_{index}") == "on",
                )
            )
        for key in data.variable_keys():
            data.variables.append(
                VariableRow(
                    key=key,
                    label=variable_label(key),
                    source=post.get(f"var_source_{key}") or "contact.first_name",
                    fallback=(post.get(f"var_fallback_{key}") or "").strip(),
                    value=(post.get(f"var_value_{key}") or "").strip(),
                    example=(post.get(f"var_example_{key}") or "").strip(),
                )
            )
        upload = (files or {}).get("header_sample") if data.header_format in MEDIA_FORMATS else None
        if upload is not None:
            mime = (getattr(upload, "content_type", "") or "").split(";")[0].strip().lower()
            allowed = SAMPLE_TYPES[data.header_format]
            if mime not in allowed or upload.size > MAX_SAMPLE_BYTES:
                from django.utils.translation import gettext as _

                data.problems.append(Problem("header", _(ERR_SAMPLE_TYPE) % {"types": ", ".join(allowed)}))
            else:
                data.sample = (upload.read(), mime)
        data.check()
        data.pad_buttons()
        return data

    def check(self, *, has_sample: bool = False) -> None:
        from django.utils.translation import gettext as _

        self.problems += template_problems(
            name=self.name,
            category=self.category,
            parameter_format=self.parameter_format,
            components=self.components(),
            local=self.is_local,
            has_sample=has_sample or self.sample is not None,
        )
        for row in self.variables:
            if row.source == "static" and not row.value:
                self.problems.append(Problem(f"var.{row.key}", _(ERR_SOURCE) % {"variable": row.label}))
        for index, button in self.tracked_buttons():
            url = button.url.strip()
            if not url.startswith(("https://", "http://")) or len(url) > 2000 or " " in url:
                self.problems.append(Problem("buttons", _(ERR_TRACKED_URL) % {"n": index + 1}))

    def pad_buttons(self) -> None:
        """Rows for the form: the buttons in use plus empty ones up to the limit."""
        used = [b for b in self.buttons if b.kind]
        self.buttons = [
            ButtonRow(index=i, kind=b.kind, text=b.text, url=b.url, phone=b.phone, track=b.track)
            for i, b in enumerate(used)
        ]
        self.buttons += [ButtonRow(index=i) for i in range(len(used), MAX_BUTTON_ROWS)]
