"""Channel settings pages: connect each kind, webhook URL and verify token, health, live QR
for WhatsApp Web, token checks, simulated customer replies for the sandbox."""

from __future__ import annotations

import io

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from inbox import selectors, services
from inbox.models import Channel, ChannelKind
from tenants.permissions import role_required

MSG_CONNECTED = gettext_lazy("Channel connected.")
MSG_SAVED = gettext_lazy("Channel saved.")
MSG_DISCONNECTED = gettext_lazy("Channel disconnected.")
MSG_TOKEN_CHECKED = gettext_lazy("Token checked.")
MSG_SESSION_STARTING = gettext_lazy("Starting the WhatsApp session: the QR code appears here in a moment.")
MSG_SESSION_LOGOUT = gettext_lazy("Logging out of WhatsApp Web.")
MSG_SIMULATED = gettext_lazy("Simulated customer message sent. It appears in the inbox in a moment.")

SECRET_HELP = gettext_lazy("Stored encrypted. Leave empty to keep the current value.")


class ChannelForm(forms.Form):
    name = forms.CharField(label=gettext_lazy("Name"), max_length=80)
    # WhatsApp Cloud API
    phone_number_id = forms.CharField(label=gettext_lazy("Phone number ID"), required=False)
    waba_id = forms.CharField(label=gettext_lazy("WhatsApp Business Account ID"), required=False)
    display_phone = forms.CharField(label=gettext_lazy("Phone number shown to customers"), required=False)
    access_token = forms.CharField(label=gettext_lazy("Access token"), required=False, widget=forms.PasswordInput)
    app_secret = forms.CharField(label=gettext_lazy("App secret"), required=False, widget=forms.PasswordInput)
    verify_token = forms.CharField(
        label=gettext_lazy("Verify token"),
        required=False,
        help_text=gettext_lazy("Leave empty to generate one."),
    )
    # SMS
    account_sid = forms.CharField(label=gettext_lazy("Account SID"), required=False)
    from_number = forms.CharField(label=gettext_lazy("Sending number"), required=False)
    auth_token = forms.CharField(label=gettext_lazy("Auth token"), required=False, widget=forms.PasswordInput)

    FIELDS_BY_KIND: dict[str, list[str]] = {
        ChannelKind.WHATSAPP_CLOUD: [
            "name",
            "phone_number_id",
            "waba_id",
            "display_phone",
            "access_token",
            "app_secret",
            "verify_token",
        ],
        ChannelKind.SMS: ["name", "account_sid", "from_number", "auth_token"],
        ChannelKind.WHATSAPP_WEB: ["name"],
        ChannelKind.SANDBOX: ["name"],
    }

    def __init__(self, *args, kind: str, editing: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        keep = self.FIELDS_BY_KIND[kind]
        for name in list(self.fields):
            if name not in keep:
                del self.fields[name]
        if editing:
            for name in ("access_token", "app_secret", "auth_token"):
                if name in self.fields:
                    self.fields[name].help_text = SECRET_HELP

    def split(self) -> tuple[str, dict, dict]:
        data = self.cleaned_data
        config = {
            k: data[k]
            for k in ("phone_number_id", "waba_id", "display_phone", "account_sid", "from_number")
            if data.get(k)
        }
        credentials = {k: data[k] for k in services.SECRET_FIELDS if data.get(k)}
        return data["name"], config, credentials


class SimulateForm(forms.Form):
    phone = forms.CharField(label=gettext_lazy("Customer phone"), initial="+55 11 98765-4321")
    name = forms.CharField(label=gettext_lazy("Customer name"), required=False, initial="Cliente Teste")
    text = forms.CharField(label=gettext_lazy("Message"), widget=forms.Textarea(attrs={"rows": 2}))


def _apply_errors(form: forms.Form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


@role_required("workspace.view")
def channel_list(request):
    channels = list(selectors.channel_list())
    kinds = [
        (ChannelKind.WHATSAPP_CLOUD, _("Official WhatsApp Business API (Meta Cloud API)."), "chat-bubble-left-right"),
        (
            ChannelKind.WHATSAPP_WEB,
            _("Your WhatsApp number through WhatsApp Web: scan a QR code."),
            "device-phone-mobile",
        ),
        (ChannelKind.SMS, _("Text messages through a Twilio-compatible provider."), "envelope"),
        (ChannelKind.SANDBOX, _("A simulated number to try the inbox without a real phone."), "sparkles"),
    ]
    return render(
        request,
        "inbox/channels/list.html",
        {"channels": channels, "kinds": [(k, ChannelKind(k).label, text, icon) for k, text, icon in kinds]},
    )


@role_required("company.manage")
def channel_new(request, kind: str):
    if kind not in ChannelKind.values:
        raise Http404
    form = ChannelForm(request.POST or None, kind=kind, initial={"name": ChannelKind(kind).label})
    if request.method == "POST" and form.is_valid():
        name, config, credentials = form.split()
        try:
            channel = services.channel_create(kind=kind, name=name, config=config, credentials=credentials)
        except ValidationError as exc:
            _apply_errors(form, exc)
        else:
            messages.success(request, MSG_CONNECTED)
            if kind == ChannelKind.WHATSAPP_WEB:
                services.channel_session_connect(channel=channel)
            return redirect("inbox:channel", pk=channel.pk)
    return render(
        request, "inbox/channels/form.html", {"form": form, "kind": kind, "kind_label": ChannelKind(kind).label}
    )


def _channel(pk: int) -> Channel:
    return get_object_or_404(Channel, pk=pk, is_active=True)


@role_required("workspace.view")
def channel_detail(request, pk: int):
    channel = _channel(pk)
    principal = request.principal
    is_admin = principal.can("admin")
    edit_form = ChannelForm(
        kind=channel.kind,
        editing=True,
        initial={"name": channel.name, **{k: v for k, v in channel.config.items()}},
    )
    context = {
        "channel": channel,
        "is_admin": is_admin,
        "can_work": principal.can("agent"),
        "webhook_url": selectors.channel_webhook_url(channel) if channel.kind != ChannelKind.WHATSAPP_WEB else "",
        "verify_token": channel.verify_token if is_admin else "",
        "edit_form": edit_form,
        "simulate_form": SimulateForm() if channel.kind == ChannelKind.SANDBOX else None,
        "dead_webhooks": selectors.channel_dead_webhooks(channel),
    }
    return render(request, "inbox/channels/detail.html", context)


@require_POST
@role_required("company.manage")
def channel_edit(request, pk: int):
    channel = _channel(pk)
    form = ChannelForm(request.POST, kind=channel.kind, editing=True)
    if form.is_valid():
        name, config, credentials = form.split()
        try:
            services.channel_update(channel=channel, name=name, config=config, credentials=credentials)
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
        else:
            messages.success(request, MSG_SAVED)
    else:
        for field_errors in form.errors.values():
            for error in field_errors:
                messages.error(request, str(error))
    return redirect("inbox:channel", pk=channel.pk)


@require_POST
@role_required("company.manage")
def channel_check(request, pk: int):
    channel = _channel(pk)
    if channel.kind == ChannelKind.WHATSAPP_CLOUD:
        services.channel_check_token(channel=channel)
        messages.success(request, MSG_TOKEN_CHECKED)
    return redirect("inbox:channel", pk=channel.pk)


@require_POST
@role_required("company.manage")
def channel_session(request, pk: int):
    channel = _channel(pk)
    if channel.kind != ChannelKind.WHATSAPP_WEB:
        raise Http404
    if request.POST.get("action") == "logout":
        services.channel_session_logout(channel=channel)
        messages.info(request, MSG_SESSION_LOGOUT)
    else:
        try:
            services.channel_session_connect(channel=channel, pair_phone=request.POST.get("pair_phone", "").strip())
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
        else:
            messages.info(request, MSG_SESSION_STARTING)
    return redirect("inbox:channel", pk=channel.pk)


@role_required("company.manage")
def channel_qr(request, pk: int):
    """The QR code (SVG) for a code the page received through the realtime events."""
    import segno

    channel = _channel(pk)
    code = request.GET.get("code", "")
    if channel.kind != ChannelKind.WHATSAPP_WEB or not code or len(code) > 1024:
        raise Http404
    buffer = io.BytesIO()
    # A standalone SVG document (with its namespace): it is shown through <img src>.
    segno.make(code, error="l").save(
        buffer, kind="svg", scale=5, border=2, dark="#0f172a", light="#ffffff", xmldecl=False
    )
    response = HttpResponse(buffer.getvalue(), content_type="image/svg+xml")
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@role_required("workspace.work")
def channel_simulate(request, pk: int):
    channel = _channel(pk)
    form = SimulateForm(request.POST)
    if form.is_valid():
        try:
            services.sandbox_simulate_reply(
                channel=channel,
                contact_phone=form.cleaned_data["phone"],
                text=form.cleaned_data["text"],
                name=form.cleaned_data["name"],
            )
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
        else:
            messages.success(request, MSG_SIMULATED)
    else:
        messages.error(request, _("Fill in the phone and the message."))
    return redirect("inbox:channel", pk=channel.pk)


@require_POST
@role_required("company.manage")
def channel_disconnect(request, pk: int):
    channel = _channel(pk)
    services.channel_disconnect(channel=channel)
    messages.success(request, MSG_DISCONNECTED)
    return redirect("inbox:channels")
