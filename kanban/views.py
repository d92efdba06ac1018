"""Pages of the Kanban board: the board (columns, more cards on scroll, drag and drop and a
"move to stage" menu, filters, search, saved views), the card drawer, pipeline settings and
the AI decisions audit. Viewers see, agents move and edit, admins configure."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from kanban import progression, selectors, services, tiles
from kanban.forms import CardForm, MoveForm, PipelineForm, StageForm
from kanban.models import Card, Pipeline, Reason, SavedView, Stage, StageKind
from tenants.permissions import role_required

MSG_SAVED = gettext_lazy("Saved.")
ERR_FORM = gettext_lazy("Check the highlighted fields.")


def _pipeline(pk: int) -> Pipeline:
    return get_object_or_404(Pipeline, pk=pk)


def _card(pk: int) -> Card:
    return get_object_or_404(Card.objects.select_related("pipeline", "stage", "contact"), pk=pk)


def _filters(request, pipeline: Pipeline) -> tuple[dict, SavedView | None]:
    view = None
    view_id = request.GET.get("view")
    if view_id and view_id.isdigit():
        view = (
            SavedView.objects.filter(pipeline=pipeline, pk=int(view_id)).filter(user_id=request.user.pk).first()
            or SavedView.objects.filter(pipeline=pipeline, pk=int(view_id), shared=True).first()
        )
    source = view.filters if view else request.GET
    return selectors.clean_filters(source), view


def _query(filters: dict) -> str:
    from urllib.parse import urlencode

    return urlencode({k: ("1" if v is True else str(v)) for k, v in filters.items()})


@require_GET
@role_required("workspace.view")
def boards(request):
    pipelines = list(selectors.pipelines())
    if len(pipelines) == 1 and not request.GET.get("all"):
        return redirect("kanban:board", pk=pipelines[0].pk)
    return render(request, "kanban/boards.html", {"pipelines": pipelines, "active_nav": "kanban"})


@require_POST
@role_required("company.manage")
def pipeline_new(request):
    name = (request.POST.get("name") or "").strip()[:120]
    if not name:
        messages.error(request, _("Give the pipeline a name."))
        return redirect(reverse("kanban:boards") + "?all=1")
    pipeline = services.pipeline_create(name=name)
    return redirect("kanban:settings", pk=pipeline.pk)


def _members(request) -> dict[int, str]:
    """The company's people by id, by name (the owner filter and the tiles' owner)."""
    from tenants.selectors import company_users

    return {u.pk: u.display_name for u in company_users(company=request.tenant)}


def _board_meta(request, pipeline: Pipeline, now) -> tiles.Board:
    return tiles.Board.load(pipeline, selectors.stages_of(pipeline), now=now, members=_members(request))


@require_GET
@role_required("workspace.view")
def board(request, pk: int):
    pipeline = _pipeline(pk)
    filters, view = _filters(request, pipeline)
    now = timezone.now()
    members = _members(request)
    columns = selectors.board(pipeline=pipeline, filters=filters, now=now, members=members)
    from crm.selectors import tags_by_id

    reasons = list(pipeline.reasons.all())
    context = {
        "pipeline": pipeline,
        "pipelines": selectors.pipelines(),
        "columns": columns,
        "stages": [col.stage for col in columns],
        "t": tiles.labels(),
        "filters": filters,
        "query": _query(filters),
        "view": view,
        "views": selectors.saved_views(pipeline=pipeline, user_id=request.user.pk),
        "tags": tags_by_id(),
        "members": members,
        "owner_none": selectors.OWNER_NONE,
        "won_reasons": [r.label for r in reasons if r.kind == StageKind.WON],
        "lost_reasons": [r.label for r in reasons if r.kind == StageKind.LOST],
        "active_nav": "kanban",
    }
    return render(request, "kanban/board.html", context)


@require_GET
@role_required("workspace.view")
def column_more(request, pk: int, stage_id: int):
    pipeline = _pipeline(pk)
    stage = get_object_or_404(Stage, pk=stage_id, pipeline=pipeline)
    filters, _view = _filters(request, pipeline)
    after = (request.GET.get("after") or "")[:128] or None
    meta = _board_meta(request, pipeline, timezone.now())
    cards, more = selectors.column_tiles(board=meta, stage=stage, filters=filters, after_rank=after)
    context = {"pipeline": pipeline, "stage": stage, "t": tiles.labels(), "cards": cards, "more": more}
    return render(request, "kanban/partials/cards.html", {**context, "query": _query(filters)})


@require_GET
@role_required("workspace.view")
def card_tile(request, pk: int):
    """One card's tile for a live event, under the board's filters (its query string): 204
    when they leave the card out, so the board drops it instead of showing it."""
    card = get_object_or_404(Card.objects.select_related("pipeline"), pk=pk)
    filters, _view = _filters(request, card.pipeline)
    row = selectors.tile(board=_board_meta(request, card.pipeline, timezone.now()), card_id=card.pk, filters=filters)
    if row is None:
        return HttpResponse(status=204)
    context = {"cards": [row], "pipeline": card.pipeline, "t": tiles.labels(), "more": False}
    return render(request, "kanban/partials/cards.html", context)


@require_GET
@role_required("workspace.view")
def board_totals(request, pk: int):
    pipeline = _pipeline(pk)
    filters, _view = _filters(request, pipeline)
    from ui.templatetags.ui import currency

    columns = selectors.board(pipeline=pipeline, filters=filters, limit=0)
    return JsonResponse(
        {str(col.stage.pk): {"count": col.count, "total": currency(col.total, pipeline.currency)} for col in columns}
    )


def _error(message) -> JsonResponse:
    return JsonResponse({"ok": False, "error": str(message)}, status=400)


@require_POST
@role_required("workspace.work")
def card_move(request, pk: int):
    form = MoveForm(request.POST)
    if not form.is_valid():
        get_object_or_404(Card, pk=pk)
        return _error(_("That move is not valid."))
    data = form.cleaned_data
    try:
        # The service locks and reads the card itself: no read of it here first.
        card = services.card_move(
            card=pk,
            stage=data["stage"],
            after_id=data.get("after"),
            before_id=data.get("before"),
            reason=data.get("reason") or "",
            by=request.user,
        )
    except ValidationError as exc:
        card = _card(pk)
        if request.headers.get("HX-Request"):
            messages.error(request, exc.messages[0])
            return _drawer_response(request, card)
        return _error(exc.messages[0])
    if request.headers.get("HX-Request"):
        return _drawer_response(request, card)
    return JsonResponse({"ok": True, "card": card.pk, "stage": card.stage_id, "rank": card.rank})


@require_POST
@role_required("workspace.work")
def card_new(request, pk: int):
    pipeline = _pipeline(pk)
    form = CardForm(request.POST, pipeline=pipeline)
    contact = conversation = None
    contact_id = request.POST.get("contact")
    if contact_id and contact_id.isdigit():
        from crm.models import Contact

        contact = Contact.objects.filter(pk=int(contact_id)).first()
    conversation_id = request.POST.get("conversation")
    if conversation_id and conversation_id.isdigit():
        from inbox.models import Conversation

        conversation = Conversation.objects.select_related("contact").filter(pk=int(conversation_id)).first()
        contact = conversation.contact if conversation else contact
    if not form.is_valid() and not contact:
        messages.error(request, ERR_FORM)
        return redirect("kanban:board", pk=pipeline.pk)
    data = form.cleaned_data if form.is_valid() else {}
    try:
        services.card_create(
            pipeline=pipeline,
            title=data.get("title", ""),
            stage=data.get("stage"),
            value=data.get("value"),
            expected_close=data.get("expected_close"),
            contact=contact,
            conversation=conversation,
            owner_id=request.user.pk,
            by=request.user,
        )
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    else:
        messages.success(request, _("Card created."))
    return redirect(request.POST.get("next") if _safe_next(request) else reverse("kanban:board", args=[pipeline.pk]))


def _safe_next(request) -> bool:
    from django.utils.http import url_has_allowed_host_and_scheme

    nxt = request.POST.get("next") or ""
    return bool(nxt) and url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()})


@require_POST
@role_required("workspace.work")
def cards_from_contacts(request, pk: int):
    """Bulk: a card for each of "all N matching" contacts (the CRM list's filters)."""
    from crm.listing import contacts_for_query

    pipeline = _pipeline(pk)
    queryset, _clean, _segment = contacts_for_query(request.POST)
    try:
        count = services.cards_bulk_create(
            pipeline=pipeline, contacts=queryset, stage=request.POST.get("stage") or None, by=request.user
        )
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    else:
        messages.success(request, _("%(count)s cards created.") % {"count": count})
    return redirect("kanban:board", pk=pipeline.pk)


def _drawer_context(request, card: Card, posted=None) -> dict:
    from crm.models import Note
    from crm.selectors import contact_timeline

    conversation_messages = []
    if card.conversation_id:
        from inbox.models import Message

        conversation_messages = list(
            Message.objects.filter(conversation_id=card.conversation_id).order_by("-created_at", "-id")[:10]
        )[::-1]
    from crm.models import CustomFieldDefinition

    field_rows = [
        {
            "definition": d,
            "value": posted.get(f"cf_{d.key}", "") if posted is not None else card.custom_fields.get(d.key),
        }
        for d in CustomFieldDefinition.objects.all()
    ]
    return {
        "card": card,
        "pipeline": card.pipeline,
        "field_rows": field_rows,
        "stages": list(card.pipeline.stages.all()),
        "reasons": list(card.pipeline.reasons.all()),
        "history": selectors.card_history(card=card),
        "decisions": selectors.card_decisions(card=card),
        "suggestion": progression.pending_suggestion(card.pk),
        "thread": conversation_messages,
        "notes": list(Note.objects.filter(contact_id=card.contact_id)[:10]) if card.contact_id else [],
        "timeline": contact_timeline(contact=card.contact)[:10] if card.contact else [],
        "stalled": card.is_stalled(),
    }


def _drawer_response(request, card: Card, posted=None) -> HttpResponse:
    card = _card(card.pk)
    return render(request, "kanban/partials/drawer.html", _drawer_context(request, card, posted))


@require_GET
@role_required("workspace.view")
def card_drawer(request, pk: int):
    return _drawer_response(request, _card(pk))


@require_POST
@role_required("workspace.work")
def card_note(request, pk: int):
    from crm.services import note_create

    card = _card(pk)
    body = (request.POST.get("body") or "").strip()
    if card.contact is None or not body:
        messages.error(request, _("Write the note first."))
    else:
        note_create(contact=card.contact, body=body[:5000], by=request.user)
    return _drawer_response(request, card)


@require_POST
@role_required("workspace.work")
def card_fields(request, pk: int):
    """The drawer's custom fields form: every CRM field definition, validated as the CRM
    validates a contact's (a bad value is shown in the drawer and changes nothing)."""
    from crm.models import CustomFieldDefinition

    card = _card(pk)
    values = {d.key: request.POST.get(f"cf_{d.key}", "") for d in CustomFieldDefinition.objects.all()}
    try:
        services.card_update(card=card, data={"custom_fields": values}, by=request.user, partial=False)
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
        return _drawer_response(request, card, posted=request.POST)
    messages.success(request, MSG_SAVED)
    return _drawer_response(request, card)


@require_POST
@role_required("workspace.work")
def suggestion(request, pk: int, decision_id: int):
    card = _card(pk)
    if not card.ai_decisions.filter(pk=decision_id).exists():
        raise Http404
    try:
        if request.POST.get("action") == "accept":
            progression.suggestion_accept(
                decision_id=decision_id, by=request.user, reason=request.POST.get("reason", "")
            )
        else:
            progression.suggestion_dismiss(decision_id=decision_id, by=request.user)
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    if request.headers.get("HX-Request"):
        return _drawer_response(request, card)
    return redirect("kanban:board", pk=card.pipeline_id)


@require_POST
@role_required("workspace.work")
def view_save(request, pk: int):
    pipeline = _pipeline(pk)
    name = (request.POST.get("name") or "").strip()[:80]
    if not name:
        messages.error(request, _("Give the view a name."))
        return redirect("kanban:board", pk=pipeline.pk)
    filters = selectors.clean_filters(request.POST)
    stored = {k: (str(v) if not isinstance(v, bool) else v) for k, v in filters.items()}
    view = SavedView.objects.create(
        pipeline=pipeline, name=name, filters=stored, user_id=request.user.pk, shared=bool(request.POST.get("shared"))
    )
    return redirect(reverse("kanban:board", args=[pipeline.pk]) + f"?view={view.pk}")


@require_POST
@role_required("workspace.work")
def view_delete(request, pk: int, view_id: int):
    SavedView.objects.filter(pipeline_id=pk, pk=view_id, user_id=request.user.pk).delete()
    return redirect("kanban:board", pk=pk)


@role_required("company.manage")
def pipeline_settings(request, pk: int):
    pipeline = _pipeline(pk)
    reasons = list(pipeline.reasons.all())
    initial = {
        "won_reasons": "\n".join(r.label for r in reasons if r.kind == StageKind.WON),
        "lost_reasons": "\n".join(r.label for r in reasons if r.kind == StageKind.LOST),
    }
    if request.method == "POST" and request.POST.get("form") == "stage":
        return _stage_save(request, pipeline)
    if request.method == "POST":
        form = PipelineForm(request.POST, instance=pipeline, initial=initial)
        if form.is_valid():
            with transaction.atomic():
                form.save()
                pipeline.reasons.all().delete()
                Reason.objects.bulk_create(
                    Reason(pipeline=pipeline, kind=kind, label=label, position=i)
                    for kind in (StageKind.WON, StageKind.LOST)
                    for i, label in enumerate(form.reasons(kind))
                )
            messages.success(request, MSG_SAVED)
            return redirect("kanban:settings", pk=pipeline.pk)
        messages.error(request, ERR_FORM)
    else:
        form = PipelineForm(instance=pipeline, initial=initial)
    stages = list(pipeline.stages.all())
    context = {
        "pipeline": pipeline,
        "form": form,
        "stage_forms": [(s, StageForm(instance=s, prefix=f"s{s.pk}")) for s in stages],
        "new_stage": StageForm(prefix="new"),
        "active_nav": "kanban",
    }
    return render(request, "kanban/settings.html", context)


def _stage_save(request, pipeline: Pipeline):
    stage_id = request.POST.get("stage")
    if request.POST.get("delete") and stage_id and stage_id.isdigit():
        try:
            services.stage_delete(stage=get_object_or_404(Stage, pk=int(stage_id), pipeline=pipeline))
        except ValidationError as exc:
            messages.error(request, exc.messages[0])
        return redirect("kanban:settings", pk=pipeline.pk)
    if request.POST.get("up") and stage_id and stage_id.isdigit():
        ids = list(pipeline.stages.values_list("pk", flat=True))
        i = ids.index(int(stage_id)) if int(stage_id) in ids else 0
        if i > 0:
            ids[i - 1], ids[i] = ids[i], ids[i - 1]
            services.stages_reorder(pipeline=pipeline, stage_ids=ids)
        return redirect("kanban:settings", pk=pipeline.pk)
    if stage_id and stage_id.isdigit():
        stage: Stage | None = get_object_or_404(Stage, pk=int(stage_id), pipeline=pipeline)
        form = StageForm(request.POST, instance=stage, prefix=f"s{stage_id}")
    else:
        stage = None
        form = StageForm(request.POST, prefix="new")
    if form.is_valid():
        if stage is None:
            services.stage_create(pipeline=pipeline, **form.cleaned_data)
        else:
            form.save()
        messages.success(request, MSG_SAVED)
    else:
        messages.error(request, ERR_FORM)
    return redirect("kanban:settings", pk=pipeline.pk)


@require_GET
@role_required("workspace.view")
def decisions(request, pk: int):
    pipeline = _pipeline(pk)
    outcome = request.GET.get("outcome") or None
    return render(
        request,
        "kanban/decisions.html",
        {
            "pipeline": pipeline,
            "decisions": selectors.pipeline_decisions(pipeline=pipeline, outcome=outcome),
            "outcome": outcome,
            "active_nav": "kanban",
        },
    )


ERR_NOTHING = gettext_lazy("Choose the contacts or the conversation first.")
ERR_STAGE = gettext_lazy("Choose the stage of a pipeline.")


def _create_source(source) -> tuple[object | None, object | None, object | None]:
    """What the "Create card(s)" page was opened for: one conversation, one contact, or the
    CRM list's selection (``contact`` ids) / "all N matching" (``all=1`` and the list's query
    string). Returns ``(conversation, contact, contacts queryset)``; the last is set for a
    selection of several contacts or "all"."""
    from crm.listing import contacts_for_query
    from crm.models import Contact

    raw = source.get("conversation") or ""
    if raw.isdigit() and len(raw) < 19:
        from inbox.models import Conversation

        conversation = Conversation.objects.select_related("contact").filter(pk=int(raw)).first()
        return conversation, (conversation.contact if conversation else None), None
    if source.get("all") == "1":
        return None, None, contacts_for_query(source)[0]
    ids = [int(x) for x in source.getlist("contact") if str(x).isdigit() and len(str(x)) < 19][:1000]
    if len(ids) == 1:
        return None, Contact.objects.filter(pk=ids[0]).first(), None
    return None, None, (Contact.objects.filter(pk__in=ids) if ids else None)


@role_required("workspace.work")
def cards_create(request):
    """ "Create card" from a contact's page or a conversation, "Create cards" from the CRM
    list's bulk bar (its selection or "all N matching"); linked there through
    ``ui.record_links`` (the CRM and the inbox import nothing of Kanban). GET shows the form,
    POST creates the card(s) in the chosen pipeline's stage."""
    from crm.segments import FilterError

    source = request.POST if request.method == "POST" else request.GET
    try:
        conversation, contact, contacts = _create_source(source)
        count = 1 if contact else (contacts.count() if contacts is not None else 0)
    except FilterError as exc:
        return render(request, "kanban/create.html", {"error": str(exc), "count": 0}, status=400)
    pipelines = list(selectors.pipelines().prefetch_related("stages"))
    keep = [
        (k, v) for k in source if k not in ("stage", "title", "value", "csrfmiddlewaretoken") for v in source.getlist(k)
    ]
    context = {
        "contact": contact,
        "conversation": conversation,
        "count": count,
        "pipelines": pipelines,
        "keep": keep,
        "title": (contact.name or contact.phone) if contact else "",
        "active_nav": "kanban",
    }
    if not count:
        context["error"] = ERR_NOTHING
        return render(request, "kanban/create.html", context, status=400 if request.method == "POST" else 200)
    if request.method != "POST":
        return render(request, "kanban/create.html", context)
    raw = source.get("stage") or ""
    stage = Stage.objects.select_related("pipeline").filter(pk=int(raw)).first() if raw.isdigit() else None
    if stage is None:
        context["error"] = ERR_STAGE
        return render(request, "kanban/create.html", context, status=400)
    try:
        if contact is not None:
            services.card_create(
                pipeline=stage.pipeline,
                stage=stage,
                title=(source.get("title") or "")[:200],
                value=source.get("value") or None,
                contact=contact,
                conversation=conversation,
                owner_id=request.user.pk,
                by=request.user,
            )
            made = 1
        else:
            made = services.cards_bulk_create(pipeline=stage.pipeline, contacts=contacts, stage=stage, by=request.user)
    except ValidationError as exc:
        context["error"] = exc.messages[0]
        context["title"] = source.get("title") or context["title"]
        return render(request, "kanban/create.html", context, status=400)
    if contact is not None:
        messages.success(request, _("Card created."))
    else:
        messages.success(request, _("%(count)s cards created.") % {"count": made})
    return redirect("kanban:board", pk=stage.pipeline_id)
