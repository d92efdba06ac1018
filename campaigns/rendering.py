"""Variables of templates and texts: which contact data a content needs, and how the values
become Meta's ``components`` parameters or a plain text.

The audience snapshot stores, per recipient, the *source values* the content needs
(``{"field.cidade": "Recife", "contact.email": "ana@example.com"}``), taken in SQL at start;
sending renders them with the variant's mapping and fallbacks. So a later CRM edit changes
nothing, and one snapshot serves every variant. The recipient row copies the contact's name
and phone anyway, so the sources those give (``ROW_SOURCES``) are read from its columns
(``row_values``) rather than copied a second time: a million-row snapshot builds no JSON for
a template that only says the first name.
"""

from __future__ import annotations

import re
from typing import Any

VARIABLE_RE = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")
CONTACT_SOURCES = {"contact.name", "contact.first_name", "contact.phone", "contact.email"}
ROW_SOURCES = frozenset({"contact.name", "contact.first_name", "contact.phone"})


def first_name(name: str) -> str:
    """The first word of a name, as the snapshot's SQL takes it (``split_part(name, ' ', 1)``)."""
    return (name or "").split(" ", 1)[0]


def row_values(*, name: str, phone: str, variables: dict[str, Any]) -> dict[str, Any]:
    """A recipient's source values: its own name and phone columns, then the snapshotted
    ``variables``."""
    return {"contact.name": name or "", "contact.first_name": first_name(name), "contact.phone": phone, **variables}


def text_variables(text: str) -> list[str]:
    """Variable names in ``text``, in order of first appearance (``{{1}}`` -> ``"1"``)."""
    seen: list[str] = []
    for name in VARIABLE_RE.findall(text or ""):
        if name not in seen:
            seen.append(name)
    return seen


def sources_of(mapping: dict[str, Any]) -> set[str]:
    """The contact data a variable mapping reads (``contact.*`` and ``field.*`` sources)."""
    out = set()
    for spec in (mapping or {}).values():
        source = str((spec or {}).get("source", ""))
        if source in CONTACT_SOURCES or source.startswith(("field.", "csv.")):
            out.add(source)
    return out


def source_sql(source: str, alias: str = "c") -> tuple[str, list[Any]]:
    """The SQL expression (and params) that reads ``source`` from a contact row ``alias``."""
    if source == "contact.name":
        return f"{alias}.name", []
    if source == "contact.first_name":
        return f"split_part({alias}.name, ' ', 1)", []
    if source == "contact.phone":
        return f"{alias}.phone", []
    if source == "contact.email":
        return f"{alias}.email", []
    if source.startswith("field."):
        return f"({alias}.custom_fields ->> %s)", [source[len("field.") :]]
    if source.startswith("csv."):
        return f"({alias}.row_values ->> %s)", [source[len("csv.") :]]
    return "NULL", []


def value_for(spec: dict[str, Any] | None, values: dict[str, Any]) -> str:
    """One variable's value: the snapshotted source value, else its fallback."""
    spec = spec or {}
    source = str(spec.get("source", ""))
    if source == "static":
        return str(spec.get("value", ""))
    value = values.get(source)
    if value is None or str(value).strip() == "":
        return str(spec.get("fallback", ""))
    return str(value)


def render_text(text: str, mapping: dict[str, Any], values: dict[str, Any]) -> str:
    """``text`` with each ``{{name}}`` replaced (texts of WhatsApp Web, SMS, sandbox)."""
    return VARIABLE_RE.sub(lambda m: value_for(mapping.get(m.group(1)), values), text or "")


def _plan(template) -> tuple[list[tuple], list[tuple[str, str]]]:
    """What ``template_components`` and ``template_body_text`` read of ``template``, worked out
    once per template object (a campaign renders the same template for every recipient): the
    components' parameter slots, and the body text split into literal parts and variable
    names. Kept on the instance, keyed by its components list, so an edited template re-plans."""
    cached = template.__dict__.get("_render_plan")
    if cached is not None and cached[0] is template.components:
        return cached[1], cached[2]
    named = template.parameter_format == "NAMED"
    slots: list[tuple] = []
    body = template.component("BODY") or {}
    for part in template.components or []:
        kind = str(part.get("type", "")).upper()
        if kind in ("BODY", "HEADER") and (part.get("format", "TEXT") or "TEXT").upper() == "TEXT":
            names = text_variables(part.get("text", ""))
            if names:
                prefix = "" if kind == "BODY" else "header."
                slots.append(("text", kind.lower(), [(prefix + name, name if named else None) for name in names]))
        elif kind == "HEADER":
            slots.append(("media", str(part.get("format", "")).lower()))
        elif kind == "BUTTONS":
            for index, button in enumerate(part.get("buttons") or []):
                if str(button.get("type", "")).upper() == "URL" and VARIABLE_RE.search(button.get("url", "")):
                    slots.append(("button", index))
    pieces = VARIABLE_RE.split(str(body.get("text", "")))  # literal, name, literal, ..., literal
    text = [(pieces[n], pieces[n + 1] if n + 1 < len(pieces) else "") for n in range(0, len(pieces), 2)]
    template.__dict__["_render_plan"] = (template.components, slots, text)
    return slots, text


def template_components(template, mapping: dict[str, Any], values: dict[str, Any]) -> list[dict[str, Any]]:
    """Meta's ``components`` send parameters for ``template`` (a ``MessageTemplate``).

    Body and header text variables become ``{"type": "text", "text": ...}`` parameters (with
    ``parameter_name`` for named templates); a media header takes ``header.link``; URL buttons
    with a variable suffix take ``button.<index>.1``.
    """
    slots, _text = _plan(template)
    out: list[dict[str, Any]] = []
    for slot in slots:
        if slot[0] == "text":
            params = []
            for key, name in slot[2]:
                param: dict[str, Any] = {"type": "text", "text": value_for(mapping.get(key), values)}
                if name is not None:
                    param["parameter_name"] = name
                params.append(param)
            out.append({"type": slot[1], "parameters": params})
        elif slot[0] == "media":
            media = slot[1]
            link = value_for(mapping.get("header.link"), values)
            if link:
                out.append({"type": "header", "parameters": [{"type": media, media: {"link": link}}]})
        else:
            index = slot[1]
            value = value_for(mapping.get(f"button.{index}.1"), values)
            out.append(
                {
                    "type": "button",
                    "sub_type": "url",
                    "index": str(index),
                    "parameters": [{"type": "text", "text": value}],
                }
            )
    return out


def template_body_text(template, mapping: dict[str, Any], values: dict[str, Any]) -> str:
    """The template's body as the customer reads it (kept on the conversation message)."""
    _slots, text = _plan(template)
    return "".join(literal + (value_for(mapping.get(name), values) if name else "") for literal, name in text)
