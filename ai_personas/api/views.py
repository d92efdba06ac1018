"""AI personas API: personas, knowledge bases, documents (upload, status), playground reply,
usage. Viewers read; admins write; agents may use the playground."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext_noop
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response

from ai_personas import services
from ai_personas.api import serializers as s
from ai_personas.knowledge import indexing
from ai_personas.models import Document, KnowledgeBase, Persona
from ai_personas.usage import usage_rows
from tenants.api.base import TenantAPIView, TenantViewSet
from tenants.roles import Role

ERR_FILE_OR_QA = gettext_noop("Send a file, or a question and an answer.")


def _as_drf(exc: DjangoValidationError) -> ValidationError:
    return ValidationError({"detail": exc.messages})


def _persona_args(data: dict) -> tuple[dict, list | None, list | None]:
    data = dict(data)
    return data, data.pop("knowledge_bases", None), data.pop("channels", None)


class PersonaViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    serializer_class = s.AIPersonaOutput
    write_role = Role.ADMIN
    pagination_class = None

    def get_queryset(self):
        return Persona.objects.prefetch_related("knowledge_bases", "channels").order_by("name", "id")

    @extend_schema(request=s.AIPersonaInput, responses={201: s.AIPersonaOutput})
    def create(self, request):
        data = s.AIPersonaInput(data=request.data)
        data.is_valid(raise_exception=True)
        fields, kbs, channels = _persona_args(data.validated_data)
        try:
            persona = services.persona_create(data=fields, knowledge_base_ids=kbs, channel_ids=channels)
        except DjangoValidationError as exc:
            raise _as_drf(exc) from exc
        return Response(s.AIPersonaOutput(persona).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.AIPersonaInput, responses=s.AIPersonaOutput)
    def partial_update(self, request, pk=None):
        persona = self.get_object()
        data = s.AIPersonaInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        fields, kbs, channels = _persona_args(data.validated_data)
        try:
            persona = services.persona_update(
                persona=persona, data=fields, knowledge_base_ids=kbs, channel_ids=channels
            )
        except DjangoValidationError as exc:
            raise _as_drf(exc) from exc
        return Response(s.AIPersonaOutput(persona).data)

    def destroy(self, request, pk=None):
        services.persona_delete(persona=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=s.AIPlaygroundInput, responses=s.AIPlaygroundOutput)
    @action(detail=True, methods=["post"], url_path="playground")
    def playground(self, request, pk=None):
        """The reply the persona would give to this conversation, and how it got there."""
        from ai_personas.agent import compose

        if not request.principal.can(Role.AGENT):
            self.permission_denied(request)
        persona = self.get_object()
        data = s.AIPlaygroundInput(data=request.data)
        data.is_valid(raise_exception=True)
        history = [(m["role"], m["text"]) for m in data.validated_data["messages"]]
        composed = compose(persona=persona, history=history, dry_run=True)
        return Response(
            s.AIPlaygroundOutput(
                {
                    "reply": "\n\n".join(composed.parts),
                    "parts": composed.parts,
                    "delays": composed.delays,
                    "chunks": [{**h.citation(), "text": h.text} for h in composed.hits],
                    "handoff": {"reason": composed.handoff[0], "summary": composed.handoff[1]}
                    if composed.handoff
                    else None,
                    "prompt_chars": composed.prompt_chars,
                    "tokens_in": composed.usage.tokens_in,
                    "tokens_out": composed.usage.tokens_out,
                    "cost": composed.cost,
                    "model_ms": composed.model_ms,
                    "overhead_ms": composed.overhead_ms,
                    "error": composed.error,
                }
            ).data
        )

    def get_permissions(self):
        # The playground is a read-like action for agents (it changes nothing but usage).
        if getattr(self, "action", None) == "playground":
            self.write_role = Role.AGENT
        return super().get_permissions()


class KnowledgeBaseViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    serializer_class = s.AIKnowledgeBaseOutput
    write_role = Role.ADMIN
    pagination_class = None
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def get_queryset(self):
        return KnowledgeBase.objects.order_by("name", "id")

    @extend_schema(request=s.AIKnowledgeBaseInput, responses={201: s.AIKnowledgeBaseOutput})
    def create(self, request):
        data = s.AIKnowledgeBaseInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            kb = indexing.knowledge_base_create(**data.validated_data)
        except DjangoValidationError as exc:
            raise _as_drf(exc) from exc
        return Response(s.AIKnowledgeBaseOutput(kb).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.AIKnowledgeBaseInput, responses=s.AIKnowledgeBaseOutput)
    def update(self, request, pk=None):
        kb = self.get_object()
        data = s.AIKnowledgeBaseInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            kb = indexing.knowledge_base_update(knowledge_base=kb, **data.validated_data)
        except DjangoValidationError as exc:
            raise _as_drf(exc) from exc
        return Response(s.AIKnowledgeBaseOutput(kb).data)

    def destroy(self, request, pk=None):
        indexing.knowledge_base_delete(knowledge_base=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(methods=["get"], responses=s.AIDocumentOutput(many=True))
    @extend_schema(methods=["post"], request=s.AIDocumentInput, responses={201: s.AIDocumentOutput})
    @action(detail=True, methods=["get", "post"], url_path="documents")
    def documents(self, request, pk=None):
        kb = self.get_object()
        if request.method == "GET":
            docs = Document.objects.filter(knowledge_base=kb).order_by("-created_at", "-id")
            return Response(s.AIDocumentOutput(docs, many=True).data)
        data = s.AIDocumentInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        by = request.user if getattr(request.user, "pk", None) else None
        try:
            if v.get("file") is not None:
                upload = v["file"]
                document = indexing.document_upload(
                    knowledge_base=kb,
                    filename=upload.name,
                    content=upload.read(indexing.MAX_UPLOAD + 1),
                    title=v["title"],
                    by=by,
                )
            elif v.get("question") or v.get("answer"):
                document = indexing.document_qa_create(
                    knowledge_base=kb, question=v.get("question", ""), answer=v.get("answer", ""), by=by
                )
            else:
                from django.utils.translation import gettext as _

                raise ValidationError({"detail": [_(ERR_FILE_OR_QA)]})
        except DjangoValidationError as exc:
            raise _as_drf(exc) from exc
        return Response(s.AIDocumentOutput(document).data, status=status.HTTP_201_CREATED)


class DocumentViewSet(mixins.RetrieveModelMixin, TenantViewSet):
    """A document's indexing status; admins change or delete it."""

    serializer_class = s.AIDocumentOutput
    write_role = Role.ADMIN

    def get_queryset(self):
        return Document.objects.all()

    @extend_schema(request=s.AIDocumentUpdateInput, responses=s.AIDocumentOutput)
    def partial_update(self, request, pk=None):
        document = self.get_object()
        data = s.AIDocumentUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        try:
            document = indexing.document_update(document=document, **data.validated_data)
        except DjangoValidationError as exc:
            raise _as_drf(exc) from exc
        return Response(s.AIDocumentOutput(document).data)

    def destroy(self, request, pk=None):
        indexing.document_delete(document=get_object_or_404(Document, pk=pk))
        return Response(status=status.HTTP_204_NO_CONTENT)


class UsageView(TenantAPIView):
    """Usage per persona per day (``since``/``until`` as YYYY-MM-DD, default: the last 30 days)."""

    @extend_schema(
        parameters=[OpenApiParameter("since", str), OpenApiParameter("until", str)],
        responses=s.AIUsageOutput(many=True),
    )
    def get(self, request):
        today = timezone.localdate()
        try:
            until = dt.date.fromisoformat(request.query_params.get("until") or today.isoformat())
            since = dt.date.fromisoformat(
                request.query_params.get("since") or (until - dt.timedelta(days=29)).isoformat()
            )
        except ValueError as exc:
            from django.utils.translation import gettext as _

            raise ValidationError({"detail": [_("Dates must look like 2026-01-31.")]}) from exc
        return Response(s.AIUsageOutput(usage_rows(since=since, until=until), many=True).data)
