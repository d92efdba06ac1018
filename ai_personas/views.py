"""Pages of the AI personas app: personas and their playground, knowledge bases and documents,
the provider settings with "test connection", usage, and the inbox panel's AI toggle."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from ai_personas import selectors, services
from ai_personas.forms import KnowledgeBaseForm, PersonaForm, ProviderForm, QAForm, UploadForm, persona_initial
from ai_personas.knowledge import indexing
from ai_personas.llm import budget_state
from ai_personas.models import Document, DocumentStatus, KnowledgeBase, Persona
from ai_personas.usage import usage_rows, usage_totals
from tenants.permissions import role_required
from tenants.roles import Role

MSG_SAVED = gettext_lazy("Saved.")
MSG_DELETED = gettext_lazy("Deleted.")
MSG_UPLOADED = gettext_lazy("Document received: it is being indexed.")
MSG_QA_ADDED = gettext_lazy("Question and answer added: being indexed.")
MSG_AI_ON = gettext_lazy("AI is answering this conversation again.")
MSG_AI_OFF = gettext_lazy("AI is silent in this conversation.")
ERR_FORM = gettext_lazy("Check the highlighted fields.")
PLAYGROUND_TURNS = 20


def _errors(request, exc: ValidationError) -> None:
    for message in exc.messages:
        messages.error(request, message)


# --- personas ------------------------------------------------------------------------------------


@require_GET
@role_required("workspace.view")
def personas(request):
    return render(
        request,
        "ai_personas/personas.html",
        {"personas": selectors.persona_list(), "budget": budget_state(), "active_nav": "ai-personas"},
    )


def _persona_form(request, persona: Persona | None):
    if request.method == "POST":
        form = PersonaForm(request.POST)
        if form.is_valid():
            data = form.service_data()
            kb_ids = [kb.pk for kb in form.cleaned_data["knowledge_bases"]]
            channel_ids = [int(pk) for pk in form.cleaned_data["channels"]]
            try:
                if persona is None:
                    persona = services.persona_create(data=data, knowledge_base_ids=kb_ids, channel_ids=channel_ids)
                else:
                    services.persona_update(
                        persona=persona, data=data, knowledge_base_ids=kb_ids, channel_ids=channel_ids
                    )
            except ValidationError as exc:
                _errors(request, exc)
            else:
                messages.success(request, MSG_SAVED)
                return redirect("ai_personas:persona", pk=persona.pk)
        else:
            messages.error(request, ERR_FORM)
    else:
        form = PersonaForm(initial=persona_initial(persona) if persona else None)
    return render(
        request, "ai_personas/persona_form.html", {"form": form, "persona": persona, "active_nav": "ai-personas"}
    )


@role_required(Role.ADMIN)
def persona_new(request):
    return _persona_form(request, None)


@role_required("workspace.view")
def persona_edit(request, pk: int):
    persona = get_object_or_404(Persona, pk=pk)
    if request.method == "POST" and not request.principal.can(Role.ADMIN):
        raise Http404
    return _persona_form(request, persona)


@require_POST
@role_required(Role.ADMIN)
def persona_delete(request, pk: int):
    services.persona_delete(persona=get_object_or_404(Persona, pk=pk))
    messages.success(request, MSG_DELETED)
    return redirect("ai_personas:personas")


# --- playground ----------------------------------------------------------------------------------


def _playground_key(persona: Persona) -> str:
    return f"ai-playground-{persona.pk}"


@require_GET
@role_required(Role.AGENT)
def playground(request, pk: int):
    persona = get_object_or_404(Persona, pk=pk)
    history = request.session.get(_playground_key(persona), [])
    return render(
        request,
        "ai_personas/playground.html",
        {"persona": persona, "history": history, "budget": budget_state(), "active_nav": "ai-personas"},
    )


@require_POST
@role_required(Role.AGENT)
def playground_send(request, pk: int):
    """One customer message in the playground: the persona's reply and how it got there."""
    from ai_personas.agent import compose
    from ai_personas.handoff import reason_text

    persona = get_object_or_404(Persona, pk=pk)
    text = request.POST.get("text", "").strip()[:2000]
    history = [tuple(turn) for turn in request.session.get(_playground_key(persona), [])][-PLAYGROUND_TURNS:]
    if not text:
        return render(
            request, "ai_personas/partials/playground_turn.html", {"error": _("Write a message first.")}, status=400
        )
    history.append(("customer", text))
    composed = compose(persona=persona, history=list(history), dry_run=True)
    reply = "\n\n".join(composed.parts)
    if reply:
        history.append(("assistant", reply))
    request.session[_playground_key(persona)] = [list(turn) for turn in history][-PLAYGROUND_TURNS:]
    return render(
        request,
        "ai_personas/partials/playground_turn.html",
        {
            "persona": persona,
            "text": text,
            "composed": composed,
            "reply_parts": composed.parts,
            "handoff_text": reason_text(composed.handoff[0]) if composed.handoff else "",
        },
    )


@require_POST
@role_required(Role.AGENT)
def playground_reset(request, pk: int):
    persona = get_object_or_404(Persona, pk=pk)
    request.session.pop(_playground_key(persona), None)
    return redirect("ai_personas:playground", pk=persona.pk)


# --- knowledge -----------------------------------------------------------------------------------


@role_required(Role.AGENT)
def knowledge(request):
    form = KnowledgeBaseForm(request.POST or None)
    if request.method == "POST":
        if not request.principal.can(Role.ADMIN):
            raise Http404
        if form.is_valid():
            try:
                kb = indexing.knowledge_base_create(**form.cleaned_data)
            except ValidationError as exc:
                _errors(request, exc)
            else:
                messages.success(request, MSG_SAVED)
                return redirect("ai_personas:knowledge-base", pk=kb.pk)
        else:
            messages.error(request, ERR_FORM)
    return render(
        request,
        "ai_personas/knowledge.html",
        {"knowledge_bases": selectors.knowledge_base_list(), "form": form, "active_nav": "ai-knowledge"},
    )


@role_required(Role.AGENT)
def knowledge_base(request, pk: int):
    kb = get_object_or_404(KnowledgeBase, pk=pk)
    form = KnowledgeBaseForm(
        request.POST or None,
        initial={"name": kb.name, "description": kb.description, "language": kb.language, "min_score": kb.min_score},
    )
    if request.method == "POST":
        if not request.principal.can(Role.ADMIN):
            raise Http404
        if form.is_valid():
            try:
                indexing.knowledge_base_update(knowledge_base=kb, **form.cleaned_data)
            except ValidationError as exc:
                _errors(request, exc)
            else:
                messages.success(request, MSG_SAVED)
                return redirect("ai_personas:knowledge-base", pk=kb.pk)
        else:
            messages.error(request, ERR_FORM)
    return render(
        request,
        "ai_personas/knowledge_base.html",
        {
            "kb": kb,
            "form": form,
            "documents": selectors.document_list(knowledge_base=kb),
            "upload_form": UploadForm(),
            "qa_form": QAForm(),
            "active_nav": "ai-knowledge",
        },
    )


@require_POST
@role_required(Role.ADMIN)
def knowledge_base_delete(request, pk: int):
    indexing.knowledge_base_delete(knowledge_base=get_object_or_404(KnowledgeBase, pk=pk))
    messages.success(request, MSG_DELETED)
    return redirect("ai_personas:knowledge")


@require_POST
@role_required(Role.ADMIN)
def document_upload(request, pk: int):
    kb = get_object_or_404(KnowledgeBase, pk=pk)
    form = UploadForm(request.POST, request.FILES)
    if form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            indexing.document_upload(
                knowledge_base=kb,
                filename=upload.name,
                content=upload.read(indexing.MAX_UPLOAD + 1),
                title=form.cleaned_data["title"],
                by=request.user,
            )
        except ValidationError as exc:
            _errors(request, exc)
        else:
            messages.success(request, MSG_UPLOADED)
    else:
        messages.error(request, _("Choose a file to upload."))
    return redirect("ai_personas:knowledge-base", pk=kb.pk)


@require_POST
@role_required(Role.ADMIN)
def qa_create(request, pk: int):
    kb = get_object_or_404(KnowledgeBase, pk=pk)
    try:
        indexing.document_qa_create(
            knowledge_base=kb,
            question=request.POST.get("question", ""),
            answer=request.POST.get("answer", ""),
            by=request.user,
        )
    except ValidationError as exc:
        _errors(request, exc)
    else:
        messages.success(request, MSG_QA_ADDED)
    return redirect("ai_personas:knowledge-base", pk=kb.pk)


@require_POST
@role_required(Role.ADMIN)
def document_delete(request, pk: int):
    document = get_object_or_404(Document, pk=pk)
    kb_id = document.knowledge_base_id
    indexing.document_delete(document=document)
    messages.success(request, MSG_DELETED)
    return redirect("ai_personas:knowledge-base", pk=kb_id)


@require_GET
@role_required(Role.AGENT)
def document_progress(request, pk: int):
    document = get_object_or_404(Document, pk=pk)
    return render(request, "ai_personas/partials/document_row.html", {"document": document})


# --- settings and usage ----------------------------------------------------------------------------


@role_required("company.manage")
def provider_settings(request):
    current = selectors.provider_settings()
    if request.method == "POST":
        form = ProviderForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                services.provider_settings_save(
                    base_url=data["base_url"],
                    api_key=data["api_key"] or None,
                    chat_model=data["chat_model"],
                    embedding_model=data["embedding_model"],
                    monthly_token_budget=data["monthly_token_budget"],
                )
            except ValidationError as exc:
                _errors(request, exc)
            else:
                messages.success(request, MSG_SAVED)
                return redirect("ai_personas:settings")
        else:
            messages.error(request, ERR_FORM)
    else:
        form = ProviderForm(
            initial={
                "base_url": current.base_url if current else "",
                "chat_model": current.chat_model if current else "",
                "embedding_model": current.embedding_model if current else "",
                "monthly_token_budget": current.monthly_token_budget if current else None,
            }
        )
    return render(
        request,
        "ai_personas/settings.html",
        {
            "form": form,
            "current": current,
            "has_key": bool(current and current.api_key),
            "budget": budget_state(),
            "active_nav": "ai-settings",
        },
    )


@require_POST
@role_required("company.manage")
def provider_settings_test(request):
    ok, detail = services.provider_test()
    (messages.success if ok else messages.error)(request, detail)
    return redirect("ai_personas:settings")


@require_GET
@role_required("workspace.view")
def usage(request):
    today = timezone.localdate()
    try:
        days = max(1, min(int(request.GET.get("days", 30)), 366))
    except ValueError:
        days = 30
    since = today - dt.timedelta(days=days - 1)
    return render(
        request,
        "ai_personas/usage.html",
        {
            "rows": usage_rows(since=since, until=today),
            "totals": usage_totals(since=since, until=today),
            "days": days,
            "budget": budget_state(),
            "active_nav": "ai-personas",
        },
    )


# --- the inbox panel -------------------------------------------------------------------------------


@require_GET
@role_required("workspace.view")
def conversation_panel(request, pk: int):
    from inbox.models import Conversation

    conversation = get_object_or_404(Conversation, pk=pk)
    return render(
        request,
        "ai_personas/partials/conversation_panel.html",
        {
            "conversation": conversation,
            "ai": selectors.conversation_state(conversation_id=pk),
            "budget": budget_state(),
        },
    )


@require_POST
@role_required("workspace.work")
def conversation_toggle(request, pk: int):
    from inbox.models import Conversation

    conversation = get_object_or_404(Conversation, pk=pk)
    enabled = request.POST.get("enabled") == "1"
    services.conversation_ai_set(conversation_id=conversation.pk, enabled=enabled, by=request.user)
    messages.success(request, MSG_AI_ON if enabled else MSG_AI_OFF)
    if not request.htmx:
        return redirect("inbox:conversation", pk=conversation.pk)
    return render(
        request,
        "ai_personas/partials/conversation_panel.html",
        {
            "conversation": conversation,
            "ai": selectors.conversation_state(conversation_id=pk),
            "budget": budget_state(),
        },
    )


def document_statuses() -> dict:
    return dict(DocumentStatus.choices)
