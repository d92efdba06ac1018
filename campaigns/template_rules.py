"""Meta's rules for creating a message template, checked before anything is submitted, and
the examples Meta requires, built from what the form holds. Pure functions: no database, no
HTTP, so the form, the API and the tests share them.

Rules (Meta's, as its create endpoint answers them; the subcode of Meta's own error is noted):
- name: lowercase letters, digits and underscores, at most 512 characters;
- body: required, at most 1,024 characters (2388040); variables never at the very start or
  end (2388299) and never next to each other; not too many variables for its length
  (2388293: Meta wants words around each variable);
- variables: positional ``{{1}}``, ``{{2}}``... in order without gaps, or named
  ``{{first_name}}`` (lowercase letters, digits, underscores), never both;
- header: text at most 60 characters with at most one variable, no line breaks, emoji or
  formatting marks (2388047); or a media header (image, video, document) with a sample;
- footer: at most 60 characters, no variables (2388073);
- buttons: at most 10; quick replies grouped together; at most 2 URL buttons and one phone
  button; button text at most 25 characters; a URL at most 2,000 characters, http(s), with at
  most one variable and only at its end;
- every variable has an example (``example.body_text`` / ``body_text_named_params``,
  ``header_text`` / ``header_text_named_params``, a URL button's ``example``).

Local templates (WhatsApp Web, SMS, sandbox) use the same variable syntax but are never
reviewed: only the name, the variables and the length (4,096 characters) apply to them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

NAME_RE = re.compile(r"^[a-z0-9_]+$")
ANY_VARIABLE_RE = re.compile(r"\{\{([^{}]*)\}\}")
NAMED_RE = re.compile(r"^[a-z][a-z0-9_]*$")
EMOJI_RE = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\ufe0f]")

MAX_NAME = 512
MAX_BODY = 1024
MAX_LOCAL_BODY = 4096
MAX_HEADER = 60
MAX_FOOTER = 60
MAX_BUTTONS = 10
MAX_BUTTON_TEXT = 25
MAX_URL = 2000
MAX_URL_BUTTONS = 2
MAX_PHONE_BUTTONS = 1
MAX_PHONE = 20
MEDIA_FORMATS = ("IMAGE", "VIDEO", "DOCUMENT")

ERR_NAME_REQUIRED = gettext_noop("Give the template a name.")
ERR_NAME_FORMAT = gettext_noop(
    "Use only lowercase letters, numbers and underscores in the name (for example: promo_black_friday)."
)
ERR_NAME_LENGTH = gettext_noop("The name can have at most 512 characters.")
ERR_BODY_REQUIRED = gettext_noop("Write the message text.")
ERR_BODY_LENGTH = gettext_noop("The message text can have at most %(max)s characters (it has %(count)s).")
ERR_VARIABLE_EDGE = gettext_noop(
    "WhatsApp does not accept a variable at the very start or end of the text. Add words before or after it."
)
ERR_VARIABLE_ADJACENT = gettext_noop("Two variables cannot be side by side. Put some words between them.")
ERR_VARIABLE_RATIO = gettext_noop(
    "This text has too many variables for its length: WhatsApp would reject it. "
    "Write more words around the variables or use fewer of them."
)
ERR_VARIABLE_SYNTAX = gettext_noop(
    "%(variable)s is not a valid variable. Use {{1}}, {{2}}… or a name such as {{first_name}}."
)
ERR_VARIABLE_MIXED = gettext_noop("Use either numbered variables ({{1}}) or named ones ({{first_name}}), not both.")
ERR_VARIABLE_FORMAT = gettext_noop(
    "The variables do not match the chosen format: numbered ({{1}}) or named ({{first_name}})."
)
ERR_VARIABLE_SEQUENCE = gettext_noop(
    "Numbered variables must go in order without gaps: {{1}}, {{2}}, {{3}}… (%(missing)s is missing)."
)
ERR_EXAMPLE_MISSING = gettext_noop("Give an example value for %(variable)s: WhatsApp requires it for the review.")
ERR_HEADER_LENGTH = gettext_noop("The header can have at most 60 characters (it has %(count)s).")
ERR_HEADER_VARIABLES = gettext_noop("The header can have at most one variable.")
ERR_HEADER_FORMAT = gettext_noop(
    "The header cannot have line breaks, emoji or formatting marks (* _ ~ `): WhatsApp rejects them."
)
ERR_HEADER_SAMPLE = gettext_noop("Attach a sample file for the header: WhatsApp requires one for the review.")
ERR_FOOTER_LENGTH = gettext_noop("The footer can have at most 60 characters (it has %(count)s).")
ERR_FOOTER_VARIABLES = gettext_noop("The footer cannot have variables.")
ERR_FOOTER_FORMAT = gettext_noop("The footer cannot have line breaks.")
ERR_BUTTONS_TOO_MANY = gettext_noop("A template can have at most 10 buttons.")
ERR_BUTTONS_GROUPED = gettext_noop("Keep the quick-reply buttons together, before or after the link and phone buttons.")
ERR_BUTTON_TEXT = gettext_noop("Button %(n)s: write a label of at most 25 characters.")
ERR_BUTTON_URL = gettext_noop("Button %(n)s: enter a web address starting with https:// (at most 2,000 characters).")
ERR_BUTTON_URL_VARIABLE = gettext_noop(
    "Button %(n)s: a web address can have one variable, only at its end (https://site.com/{{1}})."
)
ERR_BUTTON_URL_COUNT = gettext_noop("A template can have at most 2 link buttons.")
ERR_BUTTON_PHONE = gettext_noop("Button %(n)s: enter the phone number with country code, e.g. +55 11 99999-0000.")
ERR_BUTTON_PHONE_COUNT = gettext_noop("A template can have at most 1 phone button.")
ERR_BUTTON_KIND = gettext_noop("Button %(n)s: choose quick reply, link or phone.")
ERR_AUTHENTICATION = gettext_noop(
    "Authentication templates (one-time codes) have a fixed format: create them in WhatsApp Manager and sync them here."
)
ERR_LOCAL_PARTS = gettext_noop(
    "WhatsApp Web, SMS and sandbox templates have only a text (no header, footer or buttons)."
)


@dataclass(frozen=True)
class Problem:
    """One broken rule: ``field`` names the form field it belongs to (``name``, ``body``,
    ``header``, ``footer``, ``buttons``, ``example.<variable>``), ``message`` is translated."""

    field: str
    message: str


def variables_in(text: str) -> list[str]:
    """Every variable of ``text`` as written between the braces, in order, repeats kept."""
    return [raw.strip() for raw in ANY_VARIABLE_RE.findall(text or "")]


def unique_variables(text: str) -> list[str]:
    out: list[str] = []
    for name in variables_in(text):
        if name not in out:
            out.append(name)
    return out


def guess_format(texts: list[str]) -> str:
    """``"NAMED"`` when any variable is a name, else ``"POSITIONAL"``."""
    for text in texts:
        for name in variables_in(text):
            if name and not name.isdigit():
                return "NAMED"
    return "POSITIONAL"


def _check_variables(text: str, parameter_format: str, where: str, problems: list[Problem]) -> list[str]:
    names = unique_variables(text)
    for raw in names:
        if not (raw.isdigit() and raw != "0") and not NAMED_RE.match(raw):
            problems.append(Problem(where, _(ERR_VARIABLE_SYNTAX) % {"variable": "{{" + raw + "}}"}))
            return []
    kinds = {name.isdigit() for name in names}
    if len(kinds) > 1:
        problems.append(Problem(where, _(ERR_VARIABLE_MIXED)))
        return []
    if names and (parameter_format == "NAMED") == names[0].isdigit():
        problems.append(Problem(where, _(ERR_VARIABLE_FORMAT)))
        return []
    if names and names[0].isdigit():
        numbers = sorted({int(n) for n in names})
        for expected, got in enumerate(numbers, start=1):
            if expected != got:
                problems.append(Problem(where, _(ERR_VARIABLE_SEQUENCE) % {"missing": "{{" + str(expected) + "}}"}))
                return []
    return names


def _edges_and_ratio(text: str, problems: list[Problem]) -> None:
    stripped = (text or "").strip()
    if not stripped:
        return
    if ANY_VARIABLE_RE.match(stripped) or re.search(r"\{\{[^{}]*\}\}$", stripped):
        problems.append(Problem("body", _(ERR_VARIABLE_EDGE)))
    if re.search(r"\}\}\s*\{\{", stripped):
        problems.append(Problem("body", _(ERR_VARIABLE_ADJACENT)))
    count = len(variables_in(stripped))
    words = len(ANY_VARIABLE_RE.sub(" ", stripped).split())
    if count and words < 2 * count + 1:
        problems.append(Problem("body", _(ERR_VARIABLE_RATIO)))


def _example_values(component: dict, key_positional: str, key_named: str) -> dict[str, str]:
    """The examples a component carries, by variable name."""
    example = component.get("example") or {}
    out: dict[str, str] = {}
    positional = example.get(key_positional)
    if isinstance(positional, list) and positional:
        row = positional[0] if isinstance(positional[0], list) else positional
        for index, value in enumerate(row, start=1):
            out[str(index)] = str(value or "")
    for item in example.get(key_named) or []:
        if isinstance(item, dict):
            out[str(item.get("param_name", ""))] = str(item.get("example") or "")
    return out


def check_name(name: str) -> list[Problem]:
    if not name:
        return [Problem("name", _(ERR_NAME_REQUIRED))]
    if len(name) > MAX_NAME:
        return [Problem("name", _(ERR_NAME_LENGTH))]
    if not NAME_RE.match(name):
        return [Problem("name", _(ERR_NAME_FORMAT))]
    return []


def template_problems(
    *, name: str, category: str, parameter_format: str, components: list[dict], local: bool, has_sample: bool = False
) -> list[Problem]:
    """Every rule ``components`` (Meta's format) breaks, in form order. ``local``: a WhatsApp
    Web/SMS/sandbox template. ``has_sample``: a media header's sample file is at hand (or an
    ``example.header_handle`` is already set)."""
    problems = check_name(name)
    parts = {str(c.get("type", "")).upper(): c for c in components if isinstance(c, dict)}
    body = parts.get("BODY") or {}
    text = str(body.get("text") or "")
    if local:
        if set(parts) - {"BODY"}:
            problems.append(Problem("body", _(ERR_LOCAL_PARTS)))
        if not text.strip():
            problems.append(Problem("body", _(ERR_BODY_REQUIRED)))
        elif len(text) > MAX_LOCAL_BODY:
            problems.append(Problem("body", _(ERR_BODY_LENGTH) % {"max": MAX_LOCAL_BODY, "count": len(text)}))
        _check_variables(text, parameter_format, "body", problems)
        return problems

    if category == "AUTHENTICATION":
        problems.append(Problem("category", _(ERR_AUTHENTICATION)))
        return problems
    if not text.strip():
        problems.append(Problem("body", _(ERR_BODY_REQUIRED)))
    elif len(text) > MAX_BODY:
        problems.append(Problem("body", _(ERR_BODY_LENGTH) % {"max": MAX_BODY, "count": len(text)}))
    names = _check_variables(text, parameter_format, "body", problems)
    _edges_and_ratio(text, problems)
    examples = _example_values(body, "body_text", "body_text_named_params")
    for variable in names:
        if not examples.get(variable, "").strip():
            problems.append(
                Problem(f"example.{variable}", _(ERR_EXAMPLE_MISSING) % {"variable": "{{" + variable + "}}"})
            )

    header = parts.get("HEADER")
    if header:
        fmt = str(header.get("format") or "TEXT").upper()
        if fmt == "TEXT":
            htext = str(header.get("text") or "")
            if len(htext) > MAX_HEADER:
                problems.append(Problem("header", _(ERR_HEADER_LENGTH) % {"count": len(htext)}))
            if "\n" in htext or EMOJI_RE.search(htext) or re.search(r"[*_~`]", ANY_VARIABLE_RE.sub("", htext)):
                problems.append(Problem("header", _(ERR_HEADER_FORMAT)))
            hnames = _check_variables(htext, parameter_format, "header", problems)
            if len(hnames) > 1:
                problems.append(Problem("header", _(ERR_HEADER_VARIABLES)))
            hexamples = _example_values(header, "header_text", "header_text_named_params")
            for variable in hnames[:1]:
                if not hexamples.get(variable, "").strip():
                    problems.append(
                        Problem(
                            f"example.header.{variable}", _(ERR_EXAMPLE_MISSING) % {"variable": "{{" + variable + "}}"}
                        )
                    )
        elif fmt in MEDIA_FORMATS:
            handles = (header.get("example") or {}).get("header_handle") or []
            if not (has_sample or handles):
                problems.append(Problem("header", _(ERR_HEADER_SAMPLE)))

    footer = parts.get("FOOTER")
    if footer:
        ftext = str(footer.get("text") or "")
        if len(ftext) > MAX_FOOTER:
            problems.append(Problem("footer", _(ERR_FOOTER_LENGTH) % {"count": len(ftext)}))
        if variables_in(ftext):
            problems.append(Problem("footer", _(ERR_FOOTER_VARIABLES)))
        if "\n" in ftext:
            problems.append(Problem("footer", _(ERR_FOOTER_FORMAT)))

    buttons = (parts.get("BUTTONS") or {}).get("buttons") or []
    problems.extend(_button_problems(buttons))
    return problems


def _button_problems(buttons: list[dict[str, Any]]) -> list[Problem]:
    problems: list[Problem] = []
    if len(buttons) > MAX_BUTTONS:
        return [Problem("buttons", _(ERR_BUTTONS_TOO_MANY))]
    kinds = [str(b.get("type", "")).upper() for b in buttons]
    # Quick replies in one run: QR QR URL ok, URL QR URL not.
    groups = [k == "QUICK_REPLY" for k in kinds]
    runs = sum(1 for i, g in enumerate(groups) if i == 0 or g != groups[i - 1])
    if runs > 2:
        problems.append(Problem("buttons", _(ERR_BUTTONS_GROUPED)))
    if kinds.count("URL") > MAX_URL_BUTTONS:
        problems.append(Problem("buttons", _(ERR_BUTTON_URL_COUNT)))
    if kinds.count("PHONE_NUMBER") > MAX_PHONE_BUTTONS:
        problems.append(Problem("buttons", _(ERR_BUTTON_PHONE_COUNT)))
    for n, (kind, button) in enumerate(zip(kinds, buttons, strict=True), start=1):
        label = str(button.get("text") or "")
        if kind not in ("QUICK_REPLY", "URL", "PHONE_NUMBER"):
            problems.append(Problem("buttons", _(ERR_BUTTON_KIND) % {"n": n}))
            continue
        if not label.strip() or len(label) > MAX_BUTTON_TEXT:
            problems.append(Problem("buttons", _(ERR_BUTTON_TEXT) % {"n": n}))
        if kind == "URL":
            url = str(button.get("url") or "")
            if not re.match(r"^https?://[^\s/$.?#][^\s]*$", url) or len(url) > MAX_URL:
                problems.append(Problem("buttons", _(ERR_BUTTON_URL) % {"n": n}))
                continue
            found = variables_in(url)
            if len(found) > 1 or (found and not re.search(r"\{\{[^{}]*\}\}$", url)):
                problems.append(Problem("buttons", _(ERR_BUTTON_URL_VARIABLE) % {"n": n}))
            elif found and not [e for e in button.get("example") or [] if str(e).strip()]:
                problems.append(
                    Problem(f"example.button.{n - 1}", _(ERR_EXAMPLE_MISSING) % {"variable": "{{" + found[0] + "}}"})
                )
        if kind == "PHONE_NUMBER":
            digits = re.sub(r"\D", "", str(button.get("phone_number") or ""))
            if not 8 <= len(digits) <= MAX_PHONE:
                problems.append(Problem("buttons", _(ERR_BUTTON_PHONE) % {"n": n}))
    return problems


def with_examples(components: list[dict], parameter_format: str, examples: dict[str, str]) -> list[dict]:
    """``components`` with Meta's ``example`` objects built from ``examples`` (variable ->
    value; ``header.<v>`` for the header, ``button.<index>`` for a URL button's suffix).

    Positional: ``{"body_text": [["Ana", "123"]]}`` and ``{"header_text": ["Ana"]}``. Named:
    ``{"body_text_named_params": [{"param_name": "first_name", "example": "Ana"}]}`` and
    ``header_text_named_params``. A media header's ``header_handle`` is left as it is.
    """
    named = parameter_format == "NAMED"
    out: list[dict] = []
    for component in components:
        part = dict(component)
        kind = str(part.get("type", "")).upper()
        if kind == "BODY":
            names = unique_variables(part.get("text", ""))
            part.pop("example", None)
            if names and named:
                part["example"] = {
                    "body_text_named_params": [{"param_name": n, "example": examples.get(n, "")} for n in names]
                }
            elif names:
                ordered = sorted(names, key=lambda n: (not n.isdigit(), int(n) if n.isdigit() else 0, n))
                part["example"] = {"body_text": [[examples.get(n, "") for n in ordered]]}
        elif kind == "HEADER" and str(part.get("format") or "TEXT").upper() == "TEXT":
            names = unique_variables(part.get("text", ""))
            part.pop("example", None)
            if names and named:
                part["example"] = {
                    "header_text_named_params": [
                        {"param_name": names[0], "example": examples.get(f"header.{names[0]}", "")}
                    ]
                }
            elif names:
                part["example"] = {"header_text": [examples.get(f"header.{names[0]}", "")]}
        elif kind == "BUTTONS":
            buttons = []
            for index, button in enumerate(part.get("buttons") or []):
                button = dict(button)
                if str(button.get("type", "")).upper() == "URL":
                    button.pop("example", None)
                    if variables_in(button.get("url", "")):
                        button["example"] = [examples.get(f"button.{index}", "")]
                buttons.append(button)
            part["buttons"] = buttons
        out.append(part)
    return out


def examples_of(components: list[dict]) -> dict[str, str]:
    """The reverse of ``with_examples``: the example values a stored template carries."""
    out: dict[str, str] = {}
    for component in components or []:
        kind = str(component.get("type", "")).upper()
        if kind == "BODY":
            out.update(_example_values(component, "body_text", "body_text_named_params"))
        elif kind == "HEADER":
            for key, value in _example_values(component, "header_text", "header_text_named_params").items():
                out[f"header.{key}"] = value
        elif kind == "BUTTONS":
            for index, button in enumerate(component.get("buttons") or []):
                example = button.get("example")
                if isinstance(example, list) and example:
                    out[f"button.{index}"] = str(example[0])
    return out


def template_variable_keys(components: list[dict]) -> list[str]:
    """The keys of a template's variable mapping (``campaigns.models.MessageTemplate.variables``):
    body variables by name, ``header.<v>`` for a text header's, ``header.link`` for a media
    header, ``button.<index>.1`` for a URL button's suffix."""
    keys: list[str] = []
    for component in components or []:
        kind = str(component.get("type", "")).upper()
        if kind == "BODY":
            keys.extend(unique_variables(component.get("text", "")))
        elif kind == "HEADER":
            fmt = str(component.get("format") or "TEXT").upper()
            if fmt == "TEXT":
                keys.extend(f"header.{v}" for v in unique_variables(component.get("text", ""))[:1])
            elif fmt in MEDIA_FORMATS:
                keys.append("header.link")
        elif kind == "BUTTONS":
            for index, button in enumerate(component.get("buttons") or []):
                if str(button.get("type", "")).upper() == "URL" and variables_in(button.get("url", "")):
                    keys.append(f"button.{index}.1")
    return keys
