"""The inbox composer's template picker (outside the 24-hour window, and whenever an agent
wants it): the approved templates of the conversation's number, each variable filled from the
contact (with its fallback) and editable, the phone preview, and the send through the inbox's
single send (``inbox.services.message_send_template``).

The inbox shows it through its composer extension point (``inbox.extensions``), registered in
``CampaignsConfig.ready``: the inbox imports nothing of campaigns.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django.views.decorators.http import require_http_methods

from campaigns import preview as phone
from campaigns import rendering, selectors
from campaigns.forms import variable_label
from campaigns.models import MessageTemplate
from campaigns.template_rules import template_variable_keys
from inbox.models import Conversation
from tenants.permissions import role_required
from tenants.roles import Role

MSG_SENT = gettext_noop("Template sent.")
ERR_CHOOSE = gettext_noop("Choose a template.")


def composer_button(request, conversation, window_open: bool) -> str:
    """What the composer shows: a button that opens the picker in the drawer."""
    return render_to_string(
        "campaigns/partials/inbox_template_button.html",
        {"conversation": conversation, "window_open": window_open},
        request=request,
    )


def _rows(template: MessageTemplate, contact, posted=None) -> list[dict]:
    values = phone.contact_values(contact)
    mapping = template.variables or {}
    rows = []
    for key in template_variable_keys(template.components):
        if key == "header.link":
            continue
        value = rendering.value_for(mapping.get(key), values) if mapping.get(key) else ""
        if posted is not None:
            value = (posted.get(f"value_{key}") or "").strip()[:500]
        rows.append({"key": key, "label": variable_label(key), "value": value})
    return rows


def _static(rows: list[dict]) -> dict:
    return {row["key"]: {"source": "static", "value": row["value"]} for row in rows}


@require_http_methods(["GET", "POST"])
@role_required(Role.AGENT)
def template_picker(request, pk: int):
    from inbox.services import message_send_template

    conversation = get_object_or_404(Conversation.objects.select_related("channel", "contact"), pk=pk)
    templates = list(selectors.sendable_templates(channel=conversation.channel))
    raw = request.POST.get("template") or request.GET.get("template") or ""
    template = next((t for t in templates if str(t.pk) == raw), None)
    posted = request.POST if request.method == "POST" and any(k.startswith("value_") for k in request.POST) else None
    rows = _rows(template, conversation.contact, posted) if template else []
    context = {
        "conversation": conversation,
        "templates": templates,
        "template": template,
        "rows": rows,
        "error": "",
    }
    if template is not None:
        context["preview"] = phone.build(
            components=template.components, mapping=_static(rows), values={}, sms=conversation.channel.kind == "sms"
        )
    if request.method == "POST" and "send" in request.POST:
        if template is None:
            context["error"] = _(ERR_CHOOSE)
            return render(request, "campaigns/partials/inbox_template_picker.html", context, status=400)
        mapping = _static(rows)
        try:
            message_send_template(
                conversation=conversation,
                name=template.name,
                language=template.language,
                components=rendering.template_components(template, mapping, {}),
                body=rendering.template_body_text(template, mapping, {}),
                by=request.user,
                idempotency_key=request.POST.get("idempotency_key") or None,
            )
        except ValidationError as exc:
            context["error"] = " ".join(exc.messages)
            return render(request, "campaigns/partials/inbox_template_picker.html", context, status=400)
        response = render(request, "campaigns/partials/inbox_template_sent.html", context)
        from ui.htmx import trigger_toast

        return trigger_toast(response, _(MSG_SENT))
    return render(request, "campaigns/partials/inbox_template_picker.html", context)
