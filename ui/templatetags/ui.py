"""Template tags of the interface kit (templates/components/). ``{% load ui %}``.

- ``{% icon "name" "h-5 w-5" %}``: an icon from static/img/icons.svg (Heroicons outline).
- ``{% field form.email %}``: label, widget, help and inline errors (components/field.html).
- ``{% fields form %}``: every visible field plus non-field errors.
- ``{% widget form.email %}``: only the widget, styled, with aria attributes.
- ``{% nav_items "main" as items %}``: sidebar entries the member's role may see, active marked.
- ``{% ui_strings %}``: translated strings static/js/app.js needs (error toasts, dialog labels).
- filters ``role_color``, ``toast_level``, ``toast_icon``, ``toast_icon_class``, ``initials``.
- ``{{ contact.phone|phone }}``: an E.164 number as people write it (``+55 11 98765-4321``).
"""

from __future__ import annotations

from functools import lru_cache

from django import forms, template
from django.templatetags.static import static
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html, json_script
from django.utils.translation import gettext as _

from ui import navigation
from ui.htmx import toast_level as _toast_level
from ui.phones import format_phone

register = template.Library()


@lru_cache(maxsize=1)
def _sprite_url() -> str:
    # A page draws dozens of icons; the storage's URL for the sprite only changes on deploy.
    return static("img/icons.svg")


@register.simple_tag
def icon(name: str, css: str = "h-5 w-5", label: str = "") -> str:
    """Inline reference to a sprite symbol; decorative unless ``label`` is given."""
    href = f"{_sprite_url()}#{name}"
    if label:
        return format_html(
            '<svg class="{} flex-none" role="img" aria-label="{}"><use href="{}"></use></svg>', css, label, href
        )
    return format_html(
        '<svg class="{} flex-none" aria-hidden="true" focusable="false"><use href="{}"></use></svg>', css, href
    )


def _widget_class(field: forms.BoundField) -> str:
    widget = field.field.widget
    if isinstance(widget, forms.CheckboxInput):
        return "checkbox"
    if isinstance(widget, (forms.RadioSelect, forms.CheckboxSelectMultiple)):
        return "checkbox"
    if isinstance(widget, forms.Select):
        return "input select"
    return "input"


@register.simple_tag
def widget(field: forms.BoundField, **attrs) -> str:
    """The field's widget with the kit's classes and the aria attributes tying it to its
    help text and errors. Extra keyword arguments become HTML attributes."""
    css = _widget_class(field)
    if field.errors:
        css += " input-invalid"
        attrs["aria-invalid"] = "true"
    described = []
    if field.help_text:
        described.append(f"{field.auto_id}_help")
    if field.errors:
        described.append(f"{field.auto_id}_error")
    if described:
        attrs["aria-describedby"] = " ".join(described)
    existing = field.field.widget.attrs.get("class", "")
    attrs["class"] = f"{css} {existing} {attrs.get('class', '')}".strip()
    return field.as_widget(attrs=attrs)


@register.inclusion_tag("components/field.html")
def field(bound_field: forms.BoundField, label: str | None = None, hint: str | None = None, **attrs):
    return {
        "field": bound_field,
        "label": label if label is not None else bound_field.label,
        "hint": hint if hint is not None else bound_field.help_text,
        "attrs": attrs,
        "is_checkbox": isinstance(bound_field.field.widget, forms.CheckboxInput),
    }


@register.inclusion_tag("components/fields.html")
def fields(form: forms.BaseForm):
    return {"form": form}


@register.simple_tag(takes_context=True)
def nav_items(context, section: str = "main") -> list[dict]:
    """Registered navigation entries for the current principal, with URL and active state."""
    request = context.get("request")
    principal = getattr(request, "principal", None) if request else None
    match = getattr(request, "resolver_match", None) if request else None
    current = match.view_name if match else None  # "app:name", as entries name their page
    path = request.path if request else ""
    out = []
    for item in navigation.items_for(principal, section):
        try:
            url = reverse(item.url_name)
        except NoReverseMatch:
            continue  # the app registered an entry whose page is not routed here
        active = current == item.url_name or (url != "/" and path.startswith(url))
        out.append({"key": item.key, "label": item.label, "url": url, "icon": item.icon, "active": active})
    return out


@register.simple_tag
def ui_strings() -> str:
    return json_script(
        {
            "forbidden": _("Your role does not allow this action."),
            "notFound": _("This item no longer exists."),
            "serverError": _("Something went wrong. Please try again."),
            "offline": _("You seem to be offline. Check your connection."),
            "confirmTitle": _("Are you sure?"),
            "confirm": _("Confirm"),
        },
        "ui-strings",
    )


_ROLE_COLORS = {"owner": "purple", "admin": "blue", "agent": "green", "viewer": "gray"}


@register.filter
def role_color(role: str) -> str:
    return _ROLE_COLORS.get(str(role), "gray")


@register.filter
def toast_level(tag: str) -> str:
    return _toast_level(tag)


_TOAST_ICONS = {
    "success": "check-circle",
    "error": "x-circle",
    "warning": "exclamation-triangle",
    "info": "information-circle",
}
_TOAST_COLORS = {
    "success": "text-brand-600",
    "error": "text-red-600",
    "warning": "text-amber-500",
    "info": "text-sky-600",
}


@register.filter
def toast_icon(level: str) -> str:
    return _TOAST_ICONS.get(level, "information-circle")


@register.filter
def toast_icon_class(level: str) -> str:
    return _TOAST_COLORS.get(level, "text-sky-600")


@register.filter
def initials(value) -> str:
    """Two letters for an avatar: "Ana Souza" -> "AS", "ana@x.com" -> "AN"."""
    text = str(value or "").split("@")[0].replace(".", " ").replace("_", " ").strip()
    parts = [p for p in text.split() if p]
    if len(parts) >= 2:
        return (parts[0][0] + parts[-1][0]).upper()
    return text[:2].upper() or "?"


@register.filter
def phone(value) -> str:
    """``{{ contact.phone|phone }}``: "+5511987654321" -> "+55 11 98765-4321" (any country, in its
    international format); anything that is not a phone number is returned unchanged, so
    ``{{ contact.name|default:contact.phone|phone }}`` is safe."""
    return format_phone(value)


@register.filter
def times(count) -> range:
    """``{% for i in 5|times %}``: loop a number of times (skeleton rows, placeholders)."""
    try:
        return range(min(int(count), 100))
    except (TypeError, ValueError):
        return range(0)


@register.filter
def table_columns(columns) -> list[dict]:
    """Normalise table headers: "Name" or ("Messages", "text-right") -> {label, css}."""
    out = []
    for col in columns or []:
        if isinstance(col, (tuple, list)):
            out.append({"label": col[0], "css": col[1] if len(col) > 1 else ""})
        else:
            out.append({"label": col, "css": ""})
    return out


@register.filter
def split_csv(value: str) -> list[str]:
    return [v.strip() for v in str(value or "").split(",") if v.strip()]


@register.filter
def getlist(querydict, key: str) -> list[str]:
    return querydict.getlist(key) if hasattr(querydict, "getlist") else []


@register.filter
def percent_of(done, total) -> int:
    """Whole percentage of ``done`` over ``total`` (0 when total is 0), capped at 100."""
    try:
        done_n, total_n = float(done or 0), float(total or 0)
    except (TypeError, ValueError):
        return 0
    if total_n <= 0:
        return 0
    return max(0, min(100, int(done_n * 100 // total_n)))


@register.filter
def split_csv_space(value: str) -> list[str]:
    return str(value or "").split()


@register.filter
def currency(value, code: str = "BRL") -> str:
    """Money in the active (company) locale: pt-br "R$ 1.234,56", en "R$1,234.56".
    ``{{ plan.price|currency }}`` or ``{{ amount|currency:"USD" }}``."""
    from decimal import Decimal, InvalidOperation

    from django.utils import formats
    from django.utils.translation import get_language

    try:
        amount = Decimal(str(value))
    except (InvalidOperation, TypeError, ValueError):
        return ""
    symbol = {"BRL": "R$", "USD": "US$", "EUR": "€"}.get(code, code)
    number = formats.number_format(abs(amount), 2, use_l10n=True, force_grouping=True)
    sign = "-" if amount < 0 else ""
    if (get_language() or "").startswith("pt"):
        return f"{sign}{symbol}\xa0{number}"
    return f"{sign}{symbol}{number}"
