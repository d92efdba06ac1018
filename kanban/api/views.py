"""Kanban API: pipelines (with stages), cards (create, update, move with a position, bulk
create), a card's history and AI decisions. Same roles as the pages: viewers read, agents work
cards, admins manage pipelines. Another company's ids answer 404 (``TenantAPIMixin``)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from kanban import progression, services
from kanban.api import serializers as s
from kanban.models import AIDecision, Card, CardMove, Pipeline
from tenants.api.base import TenantViewSet
from tenants.roles import Role


def _as_drf(exc: DjangoValidationError) -> ValidationError:
    return ValidationError({"detail": exc.messages})


def _actor(request):
    user = request.user
    return user if getattr(user, "pk", None) else None


class CardPagination(CursorPagination):
    page_size = 100
    ordering = ("stage_id", "rank")


class PipelinePagination(CursorPagination):
    page_size = 100
    ordering = ("position", "id")


class PipelineViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Pipelines with their stages in order."""

    serializer_class = s.PipelineOutput
    pagination_class = PipelinePagination
    write_role = Role.ADMIN

    def get_queryset(self):
        return Pipeline.objects.prefetch_related("stages")

    @extend_schema(request=s.PipelineInput, responses={201: s.PipelineOutput})
    def create(self, request):
        data = s.PipelineInput(data=request.data)
        data.is_valid(raise_exception=True)
        stages = data.validated_data.get("stages")
        pipeline = services.pipeline_create(name=data.validated_data["name"], stages=stages)
        return Response(s.PipelineOutput(self.get_queryset().get(pk=pipeline.pk)).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.StageInput, responses={201: s.StageOutput})
    @action(detail=True, methods=["post"])
    def stages(self, request, pk=None):
        pipeline = get_object_or_404(Pipeline, pk=pk)
        data = s.StageInput(data=request.data)
        data.is_valid(raise_exception=True)
        stage = services.stage_create(pipeline=pipeline, **data.validated_data)
        return Response(s.StageOutput(stage).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: s.DecisionOutput(many=True)})
    @action(detail=True, methods=["get"], url_path="ai-decisions")
    def ai_decisions(self, request, pk=None):
        pipeline = get_object_or_404(Pipeline, pk=pk)
        rows = AIDecision.objects.filter(pipeline=pipeline).order_by("-created_at", "-id")[:200]
        return Response(s.DecisionOutput(rows, many=True).data)


class CardViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Cards. ``?pipeline=`` and ``?stage=`` filter the list (ordered as on the board)."""

    serializer_class = s.CardOutput
    write_role = Role.AGENT
    pagination_class = CardPagination

    def get_queryset(self):
        qs = Card.objects.all()
        for name in ("pipeline", "stage"):
            value = self.request.query_params.get(name, "")
            if value.isdigit():
                qs = qs.filter(**{f"{name}_id": int(value)})
        return qs

    @extend_schema(
        parameters=[OpenApiParameter("pipeline", int), OpenApiParameter("stage", int)],
        responses={200: s.CardOutput(many=True)},
    )
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=s.CardInput, responses={201: s.CardOutput})
    def create(self, request):
        from crm.models import Contact
        from inbox.models import Conversation

        data = s.CardInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        pipeline = get_object_or_404(Pipeline, pk=v["pipeline"])
        contact = get_object_or_404(Contact, pk=v["contact"]) if v.get("contact") else None
        conversation = get_object_or_404(Conversation, pk=v["conversation"]) if v.get("conversation") else None
        try:
            card = services.card_create(
                pipeline=pipeline,
                stage=v.get("stage"),
                title=v.get("title", ""),
                contact=contact,
                conversation=conversation,
                value=v.get("value"),
                owner_id=v.get("owner"),
                tag_ids=v.get("tag_ids"),
                expected_close=v.get("expected_close"),
                custom_fields=v.get("custom_fields"),
                by=_actor(request),
            )
        except DjangoValidationError as exc:
            raise _as_drf(exc) from exc
        return Response(s.CardOutput(card).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.CardUpdate, responses={200: s.CardOutput})
    def partial_update(self, request, pk=None):
        card = get_object_or_404(Card, pk=pk)
        data = s.CardUpdate(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        if "owner" in values:
            values["owner_id"] = values.pop("owner")
        try:
            card = services.card_update(card=card, data=values, by=_actor(request))
        except DjangoValidationError as exc:
            raise _as_drf(exc) from exc
        return Response(s.CardOutput(card).data)

    @extend_schema(request=s.MoveInput, responses={200: s.CardOutput})
    @action(detail=True, methods=["post"])
    def move(self, request, pk=None):
        card = get_object_or_404(Card, pk=pk)
        data = s.MoveInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        try:
            card = services.card_move(
                card=card,
                stage=v["stage"],
                after_id=v.get("after"),
                before_id=v.get("before"),
                reason=v.get("reason", ""),
                by=_actor(request),
            )
        except DjangoValidationError as exc:
            raise _as_drf(exc) from exc
        return Response(s.CardOutput(card).data)

    @extend_schema(request=s.BulkInput, responses={201: s.BulkOutput})
    @action(detail=False, methods=["post"])
    def bulk(self, request):
        from crm.models import Contact
        from crm.selectors import contacts_matching

        data = s.BulkInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        pipeline = get_object_or_404(Pipeline, pk=v["pipeline"])
        if v.get("contacts"):
            contacts = Contact.objects.filter(pk__in=v["contacts"])
        else:
            try:
                contacts = contacts_matching(v.get("filters") or {})
            except (DjangoValidationError, ValueError, TypeError, KeyError) as exc:
                raise ValidationError({"filters": ["invalid"]}) from exc
        try:
            count = services.cards_bulk_create(
                pipeline=pipeline, contacts=contacts, stage=v.get("stage"), by=_actor(request)
            )
        except DjangoValidationError as exc:
            raise _as_drf(exc) from exc
        return Response({"created": count}, status=status.HTTP_201_CREATED)

    @extend_schema(responses={200: s.MoveOutput(many=True)})
    @action(detail=True, methods=["get"])
    def history(self, request, pk=None):
        card = get_object_or_404(Card, pk=pk)
        return Response(s.MoveOutput(CardMove.objects.filter(card=card).order_by("-at", "-id"), many=True).data)

    @extend_schema(responses={200: s.DecisionOutput(many=True)})
    @action(detail=True, methods=["get"], url_path="ai-decisions")
    def ai_decisions(self, request, pk=None):
        card = get_object_or_404(Card, pk=pk)
        return Response(
            s.DecisionOutput(AIDecision.objects.filter(card=card).order_by("-created_at", "-id"), many=True).data
        )

    @extend_schema(request=None, responses={200: s.DecisionOutput})
    @action(detail=True, methods=["post"], url_path=r"ai-decisions/(?P<decision_id>[0-9]+)/(?P<verb>accept|dismiss)")
    def decide(self, request, pk=None, decision_id=None, verb=None):
        card = get_object_or_404(Card, pk=pk)
        get_object_or_404(AIDecision, pk=decision_id, card=card)
        try:
            if verb == "accept":
                decision = progression.suggestion_accept(decision_id=int(decision_id or 0), by=_actor(request))
            else:
                decision = progression.suggestion_dismiss(decision_id=int(decision_id or 0), by=_actor(request))
        except DjangoValidationError as exc:
            raise _as_drf(exc) from exc
        return Response(s.DecisionOutput(decision).data)
