"""The live inbox pages: the conversation list, the thread, the composer and the contact panel.

Pages are server-rendered; ``static/inbox/inbox.js`` swaps the same partials in place when the
websocket reports a change (``HX-Request`` header) so nothing needs a reload. Every action is a
plain POST form that also works without JavaScript (it redirects back to the conversation).

Reads are scoped to the request's company schema by django-tenants; writes go through the
services of ``inbox.services`` (and ``crm.services`` for the contact), which emit the realtime
events after commit.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.contrib import messages as flash
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Max, Q
from django.http import FileResponse, Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django.views.decorators.http import require_GET, require_POST

from inbox import media, selectors
from inbox.extensions import composer_sections, panel_sections
from inbox.models import (
    Channel,
    ChannelKind,
    Conversation,
    ConversationStatus,
    Label,
    Message,
)
from tenants.permissions import role_required
from tenants.roles import Role
from tenants.selectors import company_agents
from ui import record_links
from ui.phones import format_phone

PAGE_SIZE = 50
SNOOZE_CHOICES = {"1h": timedelta(hours=1), "4h": timedelta(hours=4), "1d": timedelta(days=1), "1w": timedelta(days=7)}

FILTERS = ("mine", "unassigned", "all")

MSG_SENT = gettext_noop("Message sent.")
MSG_NOTE_ADDED = gettext_noop("Note added.")
MSG_FILE_SENT = gettext_noop("File sent.")
MSG_ASSIGNED = gettext_noop("Conversation assigned to %(name)s.")
MSG_UNASSIGNED = gettext_noop("Conversation unassigned.")
MSG_RESOLVED = gettext_noop("Conversation resolved.")
MSG_REOPENED = gettext_noop("Conversation reopened.")
MSG_SNOOZED = gettext_noop("Conversation snoozed until %(when)s.")
MSG_LABELS_SAVED = gettext_noop("Labels updated.")
MSG_CONTACT_SAVED = gettext_noop("Contact saved.")
MSG_SIMULATED = gettext_noop("Simulated customer reply sent; it arrives in a moment.")
ERR_BAD_STATUS = gettext_noop("Unknown status change.")
ERR_BAD_SNOOZE = gettext_noop("Pick when the conversation should come back.")
ERR_UNKNOWN_LABEL = gettext_noop("Unknown label.")
ERR_UNKNOWN_TAG = gettext_noop("Unknown tag.")
ERR_BAD_EMAIL = gettext_noop("Enter a valid e-mail address.")
ERR_NAME_TOO_LONG = gettext_noop("The name can have at most 200 characters.")


# --- Reading ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class ListFilters:
    view: str = "all"  # mine / unassigned / all
    status: str = ""  # "" means open + pending (the work queue)
    channel: int | None = None
    label: int | None = None
    q: str = ""

    @classmethod
    def from_request(cls, request) -> ListFilters:
        get = request.GET
        view = get.get("view", "all")
        status = get.get("status", "")
        return cls(
            view=view if view in FILTERS else "all",
            status=status if status in ConversationStatus.values or status == "any" else "",
            channel=_int(get.get("channel")),
            label=_int(get.get("label")),
            q=get.get("q", "").strip()[:100],
        )

    def querystring(self, **override) -> str:
        from urllib.parse import urlencode

        values = {"view": self.view, "status": self.status, "channel": self.channel, "label": self.label, "q": self.q}
        values.update(override)
        return urlencode({k: v for k, v in values.items() if v not in (None, "", "all")})


def _int(value) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


def _conversation(request, pk: int) -> Conversation:
    return get_object_or_404(Conversation.objects.select_related("contact", "channel", "assignee"), pk=pk)


def _contact_tags(contact):
    from crm.models import Tag

    return list(Tag.objects.filter(id__in=contact.tag_ids or []).order_by("name")) if contact.tag_ids else []


def _conversation_context(
    request, conversation: Conversation, *, with_thread: bool = True, labels: list[Label] | None = None
) -> dict:
    from crm.models import Tag

    messages_, has_more = selectors.thread_messages(conversation) if with_thread else ([], False)
    window = selectors.window_state(conversation)
    can_work = request.principal.can(Role.AGENT)
    return {
        "conversation": conversation,
        "contact": conversation.contact,
        "contact_tags": _contact_tags(conversation.contact),
        "all_tags": list(Tag.objects.order_by("name").values("id", "name")[:500]),
        "thread": messages_,
        "has_more": has_more,
        "window": window,
        "agents": list(company_agents(company=request.tenant)),
        "labels": labels if labels is not None else list(Label.objects.order_by("name")),
        "conversation_labels": {label.pk for label in conversation.labels.all()},
        "snooze_choices": SNOOZE_CHOICES,
        "is_sandbox": conversation.channel.kind == ChannelKind.SANDBOX,
        "can_work": can_work,
        "extension_panels": panel_sections(request, conversation),
        "record_links": record_links.links_for("conversation", request.principal, record=conversation.pk),
        "composer_extensions": composer_sections(request, conversation, window_open=window["open"]) if can_work else [],
    }


def _list_context(request, filters: ListFilters) -> dict:
    qs = selectors.conversation_list(
        user_id=request.user.pk,
        view=filters.view,
        status=filters.status,
        channel_id=filters.channel,
        label_id=filters.label,
        search=filters.q,
    )
    qs = qs.only(*LIST_ROW_FIELDS)
    before = request.GET.get("before", "")
    cursor = _list_cursor(before)
    if cursor is not None:
        qs = qs.filter(cursor)
    rows = list(qs[: PAGE_SIZE + 1])
    counts = selectors.conversation_counts(
        user_id=request.user.pk, status=filters.status, channel_id=filters.channel, label_id=filters.label
    )
    tabs = [
        {
            "key": key,
            "label": label,
            "total": counts[key],
            "unread": counts[f"unread_{key}"],
            "qs": filters.querystring(view=key),
        }
        for key, label in (("mine", _("Mine")), ("unassigned", _("Unassigned")), ("all", _("All")))
    ]
    shown = rows[:PAGE_SIZE]
    _row_display(shown)
    return {
        "conversations": shown,
        "has_more_conversations": len(rows) > PAGE_SIZE,
        "next_cursor": list_cursor_for(rows[PAGE_SIZE - 1]) if len(rows) > PAGE_SIZE else "",
        "before": before,
        "filters": filters,
        "filters_qs": filters.querystring(),
        "tabs": tabs,
        "counts": counts,
        "today": timezone.localdate(),
    }


# What a row of the list reads (list_rows.html, _row_display, the page's cursor): fifty rows of
# whole conversations, contacts, channels and users were most of the list's time.
LIST_ROW_FIELDS = (
    "id",
    "status",
    "unread_count",
    "last_message_at",
    "last_message_preview",
    "contact",
    "contact__name",
    "contact__phone",
    "channel",
    "channel__name",
    "assignee",
    "assignee__email",
    "assignee__full_name",
    "assignee__first_name",
    "assignee__last_name",
)

# The status badge of a row that is not open.
ROW_STATUS_CLASSES = {
    "resolved": "bg-slate-200 text-slate-700 dark:bg-slate-700 dark:text-slate-200",
    "snoozed": "bg-amber-100 text-amber-800",
    "pending": "bg-sky-100 text-sky-800",
}


def _row_display(rows: list[Conversation]) -> None:
    """What each row shows that is the same computation for every row (its link and the time of
    its last message: the hour today, else the day), done here once instead of by template
    filters and ``{% url %}`` fifty times a page."""
    inbox_url = reverse("inbox:inbox")
    today = timezone.localdate()
    for row in rows:
        row.open_url = f"{inbox_url}c/{row.pk}/"  # type: ignore[attr-defined]
        contact = row.contact
        row.title = contact.name or format_phone(contact.phone)  # type: ignore[attr-defined]
        row.initial = (contact.name or contact.phone)[:1]  # type: ignore[attr-defined]
        row.status_class = ROW_STATUS_CLASSES.get(row.status, ROW_STATUS_CLASSES["pending"])  # type: ignore[attr-defined]
        if row.last_message_at is None:
            continue
        local = timezone.localtime(row.last_message_at)
        row.when_iso = local.isoformat()  # type: ignore[attr-defined]
        row.when_label = local.strftime("%H:%M" if local.date() == today else "%d/%m")  # type: ignore[attr-defined]


def list_cursor_for(conversation: Conversation) -> str:
    """Where the next page starts: after this row in (last_message_at DESC NULLS FIRST, id DESC)."""
    stamp = conversation.last_message_at.isoformat() if conversation.last_message_at else ""
    return f"{stamp}~{conversation.pk}"


def _list_cursor(value: str) -> Q | None:
    """The keyset condition for a ``list_cursor_for`` value (None when absent or malformed).

    PostgreSQL sorts NULLs first in descending order, like the ``inbox_conv_last`` index:
    conversations without any message yet come first."""
    stamp, _sep, pk_text = value.rpartition("~")
    pk = _int(pk_text)
    if pk is None:
        return None
    if not stamp:
        return Q(last_message_at__isnull=True, id__lt=pk) | Q(last_message_at__isnull=False)
    at = parse_datetime(stamp)
    if at is None:
        return None
    return Q(last_message_at__lt=at) | Q(last_message_at=at, id__lt=pk)


@require_GET
@role_required("workspace.view")
def inbox(request, pk: int | None = None):
    filters = ListFilters.from_request(request)
    context = _list_context(request, filters)
    context.update(
        {
            "channels": list(Channel.objects.filter(is_active=True).order_by("name")),
            "labels": list(Label.objects.order_by("name")),
            "status_choices": ConversationStatus.choices,
            "last_event_id": _last_event_id(),
            "inbox_strings": inbox_strings(),
        }
    )
    if pk is not None:
        conversation = _conversation(request, pk)
        context.update(_conversation_context(request, conversation, labels=context["labels"]))
    return render(request, "inbox/inbox.html", context)


def inbox_strings() -> dict:
    """Texts the page's script shows (translated here, handed over as JSON)."""
    return {
        "connected": _("Live updates on."),
        "connecting": _("Connecting to live updates…"),
        "reconnecting": _("Connection lost. Reconnecting…"),
        "caughtUp": _("Back online; you are up to date."),
        "typing": _("%(name)s is typing…"),
        "failed": _("Something went wrong. Try again."),
        "windowClosed": _("24-hour window closed"),
        "hoursLeft": _("%(h)sh %(m)smin left in the 24-hour window"),
        "minutesLeft": _("%(m)s min left in the 24-hour window"),
    }


def _last_event_id() -> int:
    from inbox.models import RealtimeEvent

    return RealtimeEvent.objects.aggregate(last=Max("id"))["last"] or 0


@require_GET
@role_required("workspace.view")
def conversation_list(request):
    filters = ListFilters.from_request(request)
    template = "inbox/partials/list_rows.html" if request.GET.get("before") else "inbox/partials/list.html"
    return render(request, template, _list_context(request, filters))


@require_GET
@role_required("workspace.view")
def conversation_pane(request, pk: int):
    conversation = _conversation(request, pk)
    return render(request, "inbox/partials/conversation.html", _conversation_context(request, conversation))


@require_GET
@role_required("workspace.view")
def conversation_side(request, pk: int):
    """Header and contact panel (after an assignment, a status or a label changed)."""
    conversation = _conversation(request, pk)
    part = request.GET.get("part", "header")
    template = {"header": "inbox/partials/header.html", "panel": "inbox/partials/panel.html"}.get(part)
    if template is None:
        raise Http404
    return render(request, template, _conversation_context(request, conversation, with_thread=False))


@require_GET
@role_required("workspace.view")
def message_list(request, pk: int):
    """New messages after ``after`` or older ones before ``before`` (infinite scroll up)."""
    conversation = get_object_or_404(Conversation, pk=pk)
    after, before = _int(request.GET.get("after")), _int(request.GET.get("before"))
    ids = [i for i in (_int(v) for v in request.GET.getlist("id")) if i][:100]
    if ids:
        items = list(
            Message.objects.filter(conversation=conversation, id__in=ids)
            .select_related("sent_by")
            .order_by("created_at", "id")
        )
        has_more = False
    elif after:
        items, has_more = selectors.thread_messages(conversation, after=after), False
    else:
        items, has_more = selectors.thread_messages(conversation, before=before)
    return render(
        request,
        "inbox/partials/messages.html",
        {"thread": items, "has_more": has_more, "conversation": conversation, "older": bool(before)},
    )


@require_GET
@role_required("workspace.view")
def message_media(request, pk: int, message_id: int):
    """Serve a message's media to members only (the storage path is never exposed)."""
    message = get_object_or_404(Message, pk=message_id, conversation_id=pk)
    if not message.media:
        raise Http404
    handle = message.media.open("rb")
    head = handle.read(media.SNIFF_BYTES)
    handle.seek(0)
    # Shown in the page only when it is an image, audio or video whose bytes say so; anything
    # else is a download, and nothing a browser could run as a page of this origin (inbox.media).
    inline = request.GET.get("download") != "1" and media.served_inline(message.media_mime, head)
    response = FileResponse(
        handle,
        content_type=media.normalize_mime(message.media_mime),
        as_attachment=not inline,
        filename=media.safe_filename(message.media_filename or (message.media.name or "file").rsplit("/", 1)[-1]),
    )
    response["Cache-Control"] = "private, max-age=3600"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = media.MEDIA_CSP
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


@require_GET
@role_required("workspace.view")
def canned_responses(request):
    qs = selectors.canned_response_list(query=request.GET.get("q", ""))
    return JsonResponse({"results": list(qs.values("shortcut", "title", "body")[:20])})


# --- Acting ----------------------------------------------------------------------------------
def _back(request, conversation: Conversation | None = None):
    target = request.POST.get("next") or request.META.get("HTTP_REFERER", "")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        return redirect(target)
    if conversation is not None:
        return redirect(reverse("inbox:conversation", args=[conversation.pk]))
    return redirect(reverse("inbox:inbox"))


def _done(request, conversation: Conversation, message: str, *, status: int = 200, fragment: str = ""):
    """Answer a form: a small JSON for the page's script, or flash + redirect without it."""
    if request.htmx:
        return JsonResponse({"ok": status < 400, "message": message, "html": fragment}, status=status)
    if status < 400:
        flash.success(request, message)
    else:
        flash.error(request, message)
    return _back(request, conversation)


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return " ".join(str(m) for m in exc.messages)
    return str(exc)


def _thread_post(request, pk: int, create, done_text: str):
    """A text posted to the thread (a reply or a private note): ``create(conversation, body)``
    returns the new row, which comes back rendered for the thread."""
    conversation = _conversation(request, pk)
    try:
        row = create(conversation, request.POST.get("body", ""))
    except ValidationError as exc:
        return _done(request, conversation, _error_text(exc), status=400)
    html = render(request, "inbox/partials/messages.html", {"thread": [row], "conversation": conversation})
    return _done(request, conversation, done_text, fragment=html.content.decode())


@require_POST
@role_required("workspace.work")
def message_send(request, pk: int):
    from inbox import services

    def create(conversation, body):
        message, _created = services.message_send_text(
            conversation=conversation,
            text=body,
            by=request.user,
            idempotency_key=request.POST.get("idempotency_key") or None,
        )
        return message

    return _thread_post(request, pk, create, _(MSG_SENT))


@require_POST
@role_required("workspace.work")
def message_send_media(request, pk: int):
    """A file (image, audio, video or document) with an optional caption."""
    from inbox import services

    conversation = _conversation(request, pk)
    upload = request.FILES.get("file")
    if upload is not None and upload.size > services.MAX_MEDIA_BYTES:
        # Refused before reading it into memory (the service's own rule and message).
        return _done(request, conversation, _(services.ERR_MEDIA_TOO_LARGE), status=400)
    try:
        message, _created = services.message_send_media(
            conversation=conversation,
            content=upload.read() if upload is not None else None,
            filename=upload.name if upload is not None else "",
            mime=(upload.content_type if upload is not None else "") or "",
            caption=request.POST.get("caption", "").strip(),
            by=request.user,
            idempotency_key=request.POST.get("idempotency_key") or None,
        )
    except ValidationError as exc:
        return _done(request, conversation, _error_text(exc), status=400)
    html = render(request, "inbox/partials/messages.html", {"thread": [message], "conversation": conversation})
    return _done(request, conversation, _(MSG_FILE_SENT), fragment=html.content.decode())


@require_POST
@role_required("workspace.work")
def note_add(request, pk: int):
    from inbox import services

    def create(conversation, body):
        return services.note_add(conversation=conversation, body=body, by=request.user)

    return _thread_post(request, pk, create, _(MSG_NOTE_ADDED))


@require_POST
@role_required("workspace.work")
def conversation_assign(request, pk: int):
    from inbox import services

    conversation = _conversation(request, pk)
    agent_id = request.POST.get("agent", "")
    agent = None
    try:
        if agent_id:
            agent = services.agent_get(user_id=request.user.pk if agent_id == "me" else _int(agent_id))
        services.conversation_assign(conversation=conversation, agent=agent, by=request.user)
    except ValidationError as exc:
        return _done(request, conversation, _error_text(exc), status=400)
    if agent is None:
        return _done(request, conversation, _(MSG_UNASSIGNED))
    return _done(request, conversation, _(MSG_ASSIGNED) % {"name": agent.display_name})


@require_POST
@role_required("workspace.work")
def conversation_status(request, pk: int):
    from inbox import services

    conversation = _conversation(request, pk)
    action = request.POST.get("action")
    try:
        if action == "resolve":
            services.conversation_resolve(conversation=conversation, by=request.user)
            text = _(MSG_RESOLVED)
        elif action == "reopen":
            services.conversation_reopen(conversation=conversation, by=request.user)
            text = _(MSG_REOPENED)
        elif action == "snooze":
            delta = SNOOZE_CHOICES.get(request.POST.get("for", ""))
            if delta is None:
                return _done(request, conversation, _(ERR_BAD_SNOOZE), status=400)
            until = timezone.now() + delta
            services.conversation_snooze(conversation=conversation, until=until, by=request.user)
            local = timezone.localtime(until)
            text = _(MSG_SNOOZED) % {"when": local.strftime("%d/%m %H:%M")}
        else:
            return _done(request, conversation, _(ERR_BAD_STATUS), status=400)
    except ValidationError as exc:
        return _done(request, conversation, _error_text(exc), status=400)
    return _done(request, conversation, text)


@require_POST
@role_required("workspace.work")
def conversation_labels(request, pk: int):
    from inbox import services

    conversation = _conversation(request, pk)
    wanted = {i for i in (_int(v) for v in request.POST.getlist("labels")) if i}
    if Label.objects.filter(id__in=wanted).count() != len(wanted):
        return _done(request, conversation, _(ERR_UNKNOWN_LABEL), status=400)
    try:
        services.conversation_set_labels(conversation=conversation, label_ids=sorted(wanted), by=request.user)
    except ValidationError as exc:
        return _done(request, conversation, _error_text(exc), status=400)
    return _done(request, conversation, _(MSG_LABELS_SAVED))


@require_POST
@role_required("workspace.work")
def contact_edit(request, pk: int):
    """Name, e-mail and tags of the conversation's contact (the CRM's own service writes)."""
    from crm import services as crm_services
    from crm.models import Tag

    conversation = _conversation(request, pk)
    contact = conversation.contact
    name = request.POST.get("name", contact.name).strip()
    email = request.POST.get("email", contact.email).strip().lower()
    if len(name) > 200:
        return _done(request, conversation, _(ERR_NAME_TOO_LONG), status=400)
    if email:
        try:
            validate_email(email)
        except ValidationError:
            return _done(request, conversation, _(ERR_BAD_EMAIL), status=400)
    tag_ids = {i for i in (_int(v) for v in request.POST.getlist("tags")) if i}
    if Tag.objects.filter(id__in=tag_ids).count() != len(tag_ids):
        return _done(request, conversation, _(ERR_UNKNOWN_TAG), status=400)
    new_names = [n for n in request.POST.get("new_tags", "").split(",") if n.strip()][:20]
    with transaction.atomic():
        if new_names:
            tag_ids.update(crm_services.tags_ensure(names=new_names))
        # Keep the order of the tags the contact already had; new ones go last.
        ordered = [i for i in contact.tag_ids or [] if i in tag_ids] + sorted(tag_ids - set(contact.tag_ids or []))
        crm_services.contact_update(
            contact=contact, data={"name": name, "email": email, "tag_ids": ordered}, by=request.user
        )
    return _done(request, conversation, _(MSG_CONTACT_SAVED))


@require_POST
@role_required("workspace.work")
def conversation_mark_read(request, pk: int):
    from inbox import services

    conversation = _conversation(request, pk)
    if conversation.unread_count:
        services.conversation_mark_read(conversation=conversation, by=request.user)
    if request.htmx:
        return HttpResponse(status=204)
    return _back(request, conversation)


@require_POST
@role_required("workspace.work")
def simulate_reply(request, pk: int):
    from inbox import services

    conversation = _conversation(request, pk)
    try:
        services.sandbox_simulate_reply(
            channel=conversation.channel, contact_phone=conversation.contact.phone, text=request.POST.get("body", "")
        )
    except ValidationError as exc:
        return _done(request, conversation, _error_text(exc), status=400)
    return _done(request, conversation, _(MSG_SIMULATED))
