"""Message template pages: the catalogue (with its live statuses), the builder with Meta's
rules checked while typing and a phone preview for a chosen contact, the template page
(preview, variable mapping, submit / delete), and the sync from WhatsApp.

Viewers read; admins manage templates (a template is sent to thousands of customers and
Meta reviews it against the company's account).
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django.views.decorators.http import require_GET, require_POST

from campaigns import message_templates as services
from campaigns import preview as phone
from campaigns import selectors
from campaigns.forms import (
    BUTTON_TYPES,
    HEADER_FORMATS,
    LANGUAGES,
    TemplateInput,
    VariableRow,
    source_choices,
    variable_label,
)
from campaigns.models import (
    MessageTemplate,
    TemplateCategory,
    TemplateOrigin,
    TemplateQuality,
    TemplateStatus,
)
from campaigns.template_rules import template_variable_keys
from crm.models import Contact
from crm.selectors import custom_field_definitions
from inbox.models import Channel, ChannelKind
from tenants.permissions import role_required
from tenants.roles import Role

MANAGE = Role.ADMIN
ERR_SAVE_FIRST = gettext_noop("Fix the problems shown below.")
MSG_SAVED = gettext_noop("Template saved.")
MSG_SUBMITTED = gettext_noop("Template sent to WhatsApp for review. Its status changes here by itself.")
MSG_EDITED = gettext_noop("Changes sent to WhatsApp. The template is in review again.")
MSG_DELETED = gettext_noop("Template deleted.")
MSG_SYNCED = gettext_noop("%(count)s templates brought from WhatsApp.")
MSG_VARIABLES = gettext_noop("Variables saved.")

STATUS_COLORS: dict[str, str] = {
    TemplateStatus.DRAFT: "gray",
    TemplateStatus.PENDING: "blue",
    TemplateStatus.APPROVED: "green",
    TemplateStatus.REJECTED: "red",
    TemplateStatus.PAUSED: "yellow",
    TemplateStatus.DISABLED: "red",
    TemplateStatus.IN_APPEAL: "purple",
    TemplateStatus.PENDING_DELETION: "gray",
    TemplateStatus.DELETED: "gray",
    TemplateStatus.LIMIT_EXCEEDED: "yellow",
    TemplateStatus.ARCHIVED: "gray",
}
QUALITY_COLORS: dict[str, str] = {
    TemplateQuality.GREEN: "green",
    TemplateQuality.YELLOW: "yellow",
    TemplateQuality.RED: "red",
    TemplateQuality.UNKNOWN: "gray",
}


def _can_manage(request) -> bool:
    principal = getattr(request, "principal", None)
    return principal is not None and principal.can(MANAGE)


def _template(pk: int) -> MessageTemplate:
    template = selectors.template_get(pk)
    if template is None:
        raise Http404
    return template


def decorate(template: MessageTemplate) -> MessageTemplate:
    """Display attributes the rows and pages read."""
    template.status_color = STATUS_COLORS.get(template.status, "gray")  # type: ignore[attr-defined]
    template.quality_color = QUALITY_COLORS.get(template.quality, "gray")  # type: ignore[attr-defined]
    template.reason_text = services.rejection_text(template.rejection_reason)  # type: ignore[attr-defined]
    body = template.component("BODY") or {}
    template.body_text = str(body.get("text") or "")  # type: ignore[attr-defined]
    return template


# --- catalogue ----------------------------------------------------------------------------------


@require_GET
@role_required(Role.VIEWER)
def template_list(request):
    status = request.GET.get("status", "")
    origin = request.GET.get("origin", "")
    query = request.GET.get("q", "")
    templates = [decorate(t) for t in selectors.template_list(status=status, origin=origin, query=query)[:500]]
    context = {
        "templates": templates,
        "status": status,
        "origin": origin,
        "q": query,
        "status_choices": [c for c in TemplateStatus.choices if c[0] != TemplateStatus.DELETED],
        "origin_choices": TemplateOrigin.choices,
        "sync_channels": selectors.cloud_channels_by_waba(),
        "can_manage": _can_manage(request),
        "filtered": bool(status or origin or query),
    }
    if request.htmx and request.htmx.target == "template-rows":
        return render(request, "campaigns/partials/template_rows.html", context)
    return render(request, "campaigns/template_list.html", context)


@require_GET
@role_required(Role.VIEWER)
def template_row(request, pk: int):
    """One row, refreshed when a status or quality event arrives."""
    template = MessageTemplate.objects.select_related("channel").filter(pk=pk).first()
    if template is None or template.status == TemplateStatus.DELETED:
        return HttpResponse("")
    return render(
        request, "campaigns/partials/template_row.html", {"t": decorate(template), "can_manage": _can_manage(request)}
    )


@require_POST
@role_required(MANAGE)
def templates_sync(request):
    channel = get_object_or_404(Channel, pk=request.POST.get("channel") or 0, kind=ChannelKind.WHATSAPP_CLOUD)
    try:
        result = services.templates_sync(channel=channel)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _(MSG_SYNCED) % {"count": result.total})
    return redirect("campaigns:templates")


# --- builder ------------------------------------------------------------------------------------


def _builder_context(request, data: TemplateInput, *, template: MessageTemplate | None, channel: Channel | None):
    channels = selectors.template_channels()
    definitions = custom_field_definitions()
    contact = _preview_contact(request)
    is_sms = channel is not None and channel.kind == ChannelKind.SMS
    return {
        "data": data,
        "template": template,
        "channel": channel,
        "channels": channels,
        "errors": data.errors_by_field(),
        "languages": LANGUAGES,
        "categories": [c for c in TemplateCategory.choices if c[0] != TemplateCategory.AUTHENTICATION],
        "header_formats": HEADER_FORMATS,
        "button_types": BUTTON_TYPES,
        "sources": source_choices(definitions),
        "var_keys": ",".join(v.key for v in data.variables),
        "preview": _preview_for(data, contact, sms=is_sms),
        "preview_contact": contact,
        "preview_contacts": selectors.preview_contacts(),
        "is_sms": is_sms,
        "locked_identity": template is not None and bool(template.meta_template_id),
    }


def _preview_contact(request) -> Contact | None:
    raw = request.POST.get("preview_contact") or request.GET.get("contact") or ""
    return Contact.objects.filter(pk=int(raw)).first() if raw.isdigit() else None


def _preview_for(data: TemplateInput, contact: Contact | None, *, sms: bool):
    values = phone.contact_values(contact) if contact is not None else None
    return phone.build(components=data.components(), mapping=data.mapping(), values=values, sms=sms)


def _channel_for(request, template: MessageTemplate | None) -> Channel | None:
    if template is not None:
        return template.channel
    raw = request.POST.get("channel") or request.GET.get("channel") or ""
    if raw.isdigit():
        return Channel.objects.filter(pk=int(raw), is_active=True).first()
    channels = selectors.template_channels()
    return channels[0] if channels else None


def _origin(channel: Channel | None, template: MessageTemplate | None) -> str:
    if template is not None:
        return template.origin
    return (
        TemplateOrigin.META
        if channel is not None and channel.kind == ChannelKind.WHATSAPP_CLOUD
        else TemplateOrigin.LOCAL
    )


@role_required(MANAGE)
def template_new(request):
    return _builder(request, None)


@role_required(MANAGE)
def template_edit(request, pk: int):
    template = _template(pk)
    if template.origin == TemplateOrigin.META and template.meta_template_id and not template.is_editable:
        messages.error(request, _(services.ERR_NOT_EDITABLE) % {"status": template.get_status_display()})
        return redirect("campaigns:template", pk=template.pk)
    return _builder(request, template)


def _builder(request, template: MessageTemplate | None):
    channel = _channel_for(request, template)
    origin = _origin(channel, template)
    if request.method != "POST":
        data = TemplateInput.from_template(template) if template else TemplateInput(origin=origin)
        if template is None:
            data.channel_id = channel.pk if channel else None
            data.pad_buttons()
        return render(
            request, "campaigns/template_form.html", _builder_context(request, data, template=template, channel=channel)
        )
    data = TemplateInput.parse(request.POST, request.FILES, origin=origin, channel_id=channel.pk if channel else None)
    if template is not None and template.meta_template_id:
        # Meta's key is the name and language: an edit keeps them.
        data.name, data.language = template.name, template.language
        data.problems = [p for p in data.problems if p.field != "name"]
        if data.header_format in ("IMAGE", "VIDEO", "DOCUMENT") and data.sample is None:
            header = template.component("HEADER") or {}
            if (header.get("example") or {}).get("header_handle"):
                data.problems = [p for p in data.problems if p.field != "header"]
    if channel is None:
        from campaigns.forms import ERR_CHANNEL
        from campaigns.template_rules import Problem

        data.problems.insert(0, Problem("channel", _(ERR_CHANNEL)))
    if data.problems:
        context = _builder_context(request, data, template=template, channel=channel)
        context["form_error"] = _(ERR_SAVE_FIRST)
        return render(request, "campaigns/template_form.html", context, status=400)
    submit = request.POST.get("action") == "submit" and origin == TemplateOrigin.META
    try:
        if template is not None and template.meta_template_id:
            template = services.template_edit_submit(
                template=template, components=data.components(), category=data.category, sample=data.sample
            )
            services.template_variables_set(template=template, variables=data.mapping())
            messages.success(request, _(MSG_EDITED))
            return redirect("campaigns:template", pk=template.pk)
        template = services.template_save(
            template=template,
            origin=origin,
            name=data.name,
            language=data.language,
            category=data.category,
            parameter_format=data.parameter_format,
            components=data.components(),
            variables=data.mapping(),
            channel=channel,
            by=request.user,
        )
    except ValidationError as exc:
        context = _builder_context(request, data, template=template, channel=channel)
        if hasattr(exc, "error_dict"):
            context["errors"] = {**context["errors"], **exc.message_dict}
        context["form_error"] = " ".join(exc.messages)
        return render(request, "campaigns/template_form.html", context, status=400)
    if submit:
        try:
            services.template_submit(template=template, sample=data.sample)
        except ValidationError as exc:
            # Saved as a draft: Meta's refusal is shown on the template's page.
            messages.error(request, " ".join(exc.messages))
            return redirect("campaigns:template", pk=template.pk)
        messages.success(request, _(MSG_SUBMITTED))
    else:
        messages.success(request, _(MSG_SAVED))
    return redirect("campaigns:template", pk=template.pk)


@require_POST
@role_required(Role.VIEWER)
def template_live(request):
    """The builder while typing: the phone preview, Meta's rules, and the variables section
    again when the set of variables changed."""
    template = None
    raw_pk = request.POST.get("template") or ""
    if raw_pk.isdigit():
        template = MessageTemplate.objects.filter(pk=int(raw_pk)).first()
    channel = _channel_for(request, template)
    origin = _origin(channel, template)
    data = TemplateInput.parse(request.POST, None, origin=origin, channel_id=channel.pk if channel else None)
    if template is not None and template.meta_template_id:
        data.problems = [p for p in data.problems if p.field != "name"]
    # The file is not sent while typing: a media header's sample is checked on save.
    data.problems = [
        p for p in data.problems if not (p.field == "header" and data.header_format in ("IMAGE", "VIDEO", "DOCUMENT"))
    ]
    context = _builder_context(request, data, template=template, channel=channel)
    context["variables_changed"] = request.POST.get("var_keys", "") != context["var_keys"]
    return render(request, "campaigns/partials/template_live.html", context)


@require_GET
@role_required(Role.VIEWER)
def contact_options(request):
    """``<option>``s of the preview's contact picker, filtered by name or phone."""
    contacts = selectors.preview_contacts(query=request.GET.get("q") or request.GET.get("preview_q") or "")
    return render(request, "campaigns/partials/contact_options.html", {"preview_contacts": contacts})


# --- template page ------------------------------------------------------------------------------


@require_GET
@role_required(Role.VIEWER)
def template_detail(request, pk: int):
    template = decorate(_template(pk))
    contact = _preview_contact(request)
    is_sms = template.channel is not None and template.channel.kind == ChannelKind.SMS
    values = phone.contact_values(contact) if contact is not None else None
    preview = phone.build(
        components=template.components,
        mapping=template.variables,
        values=values,
        sms=is_sms,
    )
    if request.htmx and request.htmx.target == "template-preview":
        return render(request, "campaigns/partials/phone.html", {"preview": preview, "channel": template.channel})
    data = TemplateInput.from_template(template)
    context = {
        "template": template,
        "data": data,
        "preview": preview,
        "preview_contact": contact,
        "preview_contacts": selectors.preview_contacts(),
        "sources": source_choices(custom_field_definitions()),
        "can_manage": _can_manage(request),
        "is_sms": is_sms,
        "can_edit": template.origin == TemplateOrigin.LOCAL or not template.meta_template_id or template.is_editable,
        "can_submit": template.origin == TemplateOrigin.META and not template.meta_template_id,
    }
    return render(request, "campaigns/template_detail.html", context)


@require_POST
@role_required(MANAGE)
def template_variables(request, pk: int):
    template = _template(pk)
    rows = []
    for key in template_variable_keys(template.components):
        rows.append(
            VariableRow(
                key=key,
                label=variable_label(key),
                source=request.POST.get(f"var_source_{key}") or "contact.first_name",
                fallback=(request.POST.get(f"var_fallback_{key}") or "").strip()[:200],
                value=(request.POST.get(f"var_value_{key}") or "").strip()[:200],
            )
        )
    mapping = TemplateInput(variables=rows).mapping()
    services.template_variables_set(template=template, variables=mapping)
    messages.success(request, _(MSG_VARIABLES))
    return redirect("campaigns:template", pk=template.pk)


@require_POST
@role_required(MANAGE)
def template_submit(request, pk: int):
    template = _template(pk)
    try:
        services.template_submit(template=template)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _(MSG_SUBMITTED))
    return redirect("campaigns:template", pk=template.pk)


@require_POST
@role_required(MANAGE)
def template_delete(request, pk: int):
    template = _template(pk)
    try:
        services.template_delete(template=template, all_languages=request.POST.get("scope") == "all")
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("campaigns:template", pk=template.pk)
    messages.success(request, _(MSG_DELETED))
    return redirect(reverse("campaigns:templates"))
