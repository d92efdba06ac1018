"""Campaigns API: message templates (CRUD, sync, submit) and campaigns (create, estimate, start,
pause, resume, cancel, stats, recipients).

Same roles as the pages: viewers read, admins write. ``Idempotency-Key`` on create and start:
the same key (per API key or user) returns the campaign the first call made instead of making
another or starting twice. Another company's ids answer 404 (``TenantAPIMixin``).
"""

from __future__ import annotations

import datetime as dt
import hashlib

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from campaigns import links, selectors
from campaigns import message_templates as templates
from campaigns.api import serializers as s
from campaigns.models import Campaign, CampaignKind, MessageTemplate, Recipient, RecipientState, TemplateOrigin
from campaigns.realtime import COUNTER_FIELDS
from campaigns.template_rules import template_problems
from inbox.models import Channel, ChannelKind
from tenants.api.base import TenantViewSet
from tenants.roles import Role

IDEMPOTENCY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="Send the same key when retrying: the call takes effect once (the first result is returned).",
)


def _as_drf(exc: DjangoValidationError) -> ValidationError:
    if hasattr(exc, "message_dict"):
        return ValidationError(exc.message_dict)
    return ValidationError({"detail": exc.messages})


def _actor(request):
    user = request.user
    return user if getattr(user, "pk", None) else None


def _scoped_key(request) -> str | None:
    """The request's ``Idempotency-Key`` scoped to the caller (API key or user), hashed to
    the column's width."""
    key = (request.headers.get("Idempotency-Key") or "").strip()
    if not key:
        return None
    principal = request.principal
    caller = f"api{principal.api_key_id}" if principal.api_key_id else f"user{principal.user_id}"
    return hashlib.sha256(f"{caller}:{key[:200]}".encode()).hexdigest()


def _channel(pk) -> Channel:
    return get_object_or_404(Channel, pk=pk, is_active=True)


# --- templates ------------------------------------------------------------------------------


class TemplateViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Message templates. ``?status=`` ``?origin=`` ``?q=`` filter the list."""

    serializer_class = s.TemplateOutput
    write_role = Role.ADMIN
    pagination_class = None

    def get_queryset(self):
        params = self.request.query_params
        return selectors.template_list(
            status=params.get("status", ""), origin=params.get("origin", ""), query=params.get("q", "")
        )

    @staticmethod
    def _check(*, name, category, components, local) -> None:
        from campaigns.template_rules import guess_format

        texts = [str(c.get("text") or "") for c in components if isinstance(c, dict)]
        problems = template_problems(
            name=name, category=category, parameter_format=guess_format(texts), components=components, local=local
        )
        if problems:
            errors: dict[str, list[str]] = {}
            for problem in problems:
                errors.setdefault(problem.field, []).append(problem.message)
            raise ValidationError(errors)

    @extend_schema(request=s.TemplateInput, responses={201: s.TemplateOutput})
    def create(self, request):
        from campaigns.template_rules import guess_format

        data = s.TemplateInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        channel = _channel(v["channel"])
        origin = TemplateOrigin.META if channel.kind == ChannelKind.WHATSAPP_CLOUD else TemplateOrigin.LOCAL
        self._check(name=v["name"], category=v["category"], components=v["components"], local=origin == "local")
        texts = [str(c.get("text") or "") for c in v["components"]]
        try:
            template = templates.template_save(
                origin=origin,
                name=v["name"],
                language=v["language"],
                category=v["category"],
                parameter_format=guess_format(texts),
                components=v["components"],
                variables=v["variables"],
                channel=channel,
                by=_actor(request),
            )
            if v["submit"] and origin == TemplateOrigin.META:
                template = templates.template_submit(template=template)
        except DjangoValidationError as exc:
            raise _as_drf(exc) from exc
        return Response(s.TemplateOutput(template).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.TemplateUpdateInput, responses=s.TemplateOutput)
    def partial_update(self, request, pk=None):
        template = self.get_object()
        data = s.TemplateUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        try:
            if "components" in v:
                local = template.origin == TemplateOrigin.LOCAL
                self._check(
                    name=template.name,
                    category=v.get("category", template.category),
                    components=v["components"],
                    local=local,
                )
                if template.meta_template_id:
                    template = templates.template_edit_submit(
                        template=template, components=v["components"], category=v.get("category")
                    )
                else:
                    template = templates.template_save(
                        template=template,
                        origin=template.origin,
                        name=template.name,
                        language=template.language,
                        category=v.get("category", template.category),
                        parameter_format=template.parameter_format,
                        components=v["components"],
                        variables=v.get("variables", template.variables),
                        channel=template.channel,
                    )
            if "variables" in v:
                template = templates.template_variables_set(template=template, variables=v["variables"])
        except DjangoValidationError as exc:
            raise _as_drf(exc) from exc
        return Response(s.TemplateOutput(template).data)

    @extend_schema(
        parameters=[OpenApiParameter("all_languages", bool, description="Delete every language of the name.")],
        responses={204: None},
    )
    def destroy(self, request, pk=None):
        template = self.get_object()
        try:
            templates.template_delete(
                template=template, all_languages=request.query_params.get("all_languages") in ("1", "true")
            )
        except DjangoValidationError as exc:
            raise _as_drf(exc) from exc
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=s.TemplateOutput)
    @action(detail=True, methods=["post"])
    def submit(self, request, pk=None):
        template = self.get_object()
        try:
            template = templates.template_submit(template=template)
        except DjangoValidationError as exc:
            raise _as_drf(exc) from exc
        return Response(s.TemplateOutput(template).data)

    @extend_schema(request=s.TemplateSyncInput, responses=s.TemplateSyncOutput)
    @action(detail=False, methods=["post"])
    def sync(self, request):
        data = s.TemplateSyncInput(data=request.data)
        data.is_valid(raise_exception=True)
        channel = _channel(data.validated_data["channel"])
        try:
            result = templates.templates_sync(channel=channel)
        except DjangoValidationError as exc:
            raise _as_drf(exc) from exc
        return Response({"created": result.created, "updated": result.updated, "removed": result.removed})


# --- campaigns ------------------------------------------------------------------------------


class CampaignPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50


class RecipientPagination(CursorPagination):
    ordering = ("-id",)
    page_size = 100


class CampaignViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Campaigns. ``?state=`` filters the list. Create makes a draft; ``start`` sends it now
    or at ``at``; ``estimate`` says who it reaches and what it costs before that."""

    serializer_class = s.CampaignOutput
    write_role = Role.ADMIN
    pagination_class = CampaignPagination

    def get_queryset(self):
        qs = Campaign.objects.filter(kind=CampaignKind.BROADCAST).prefetch_related("variants")
        state = self.request.query_params.get("state", "")
        return qs.filter(state=state) if state else qs

    def _campaign(self, pk) -> Campaign:
        return get_object_or_404(Campaign.objects.select_related("channel"), pk=pk)

    def _out(self, campaign: Campaign, code=status.HTTP_200_OK) -> Response:
        campaign = Campaign.objects.prefetch_related("variants").get(pk=campaign.pk)
        return Response(s.CampaignOutput(campaign).data, status=code)

    @extend_schema(
        request=s.CampaignInput, responses={201: s.CampaignOutput, 200: s.CampaignOutput}, parameters=[IDEMPOTENCY]
    )
    def create(self, request):
        from campaigns import services
        from campaigns.models import AudienceUpload

        key = _scoped_key(request)
        if key:
            existing = Campaign.objects.filter(create_key=key).first()
            if existing is not None:
                return self._out(existing)
        data = s.CampaignInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        channel = _channel(v["channel"])
        ids = [item.get("template") for item in v["variants"] if item.get("template")]
        found = {t.pk: t for t in MessageTemplate.objects.filter(pk__in=ids)}
        variants = []
        for index, item in enumerate(v["variants"]):
            template_id = item.get("template")
            if template_id and template_id not in found:
                raise ValidationError({"variants": {index: {"template": ["This template does not exist."]}}})
            variants.append(
                {
                    "template": found.get(template_id) if template_id else None,
                    "body": item.get("body", ""),
                    "split": item.get("split", 100),
                    "variables": item.get("variables") or {},
                }
            )
        upload = None
        if v.get("upload"):
            upload = get_object_or_404(AudienceUpload, pk=v["upload"])
        wait = v.get("ab_wait_minutes")
        try:
            with transaction.atomic():
                campaign = services.campaign_create(
                    name=v["name"],
                    channel=channel,
                    variants=variants,
                    audience_kind=v["audience_kind"],
                    segment_ids=v["segment_ids"],
                    list_ids=v["list_ids"],
                    tag_ids=v["tag_ids"],
                    upload=upload,
                    variables=v["variables"],
                    window_start=v.get("window_start"),
                    window_end=v.get("window_end"),
                    window_days=v.get("window_days"),
                    rate_mps=v.get("rate_mps"),
                    ab_test_share=v["ab_test_share"],
                    ab_winner_metric=v["ab_winner_metric"],
                    ab_wait=dt.timedelta(minutes=wait) if wait else None,
                    by=_actor(request),
                    idempotency_key=key,
                )
                if not campaign.links.exists():
                    links.campaign_links_prepare(campaign=campaign)
        except DjangoValidationError as exc:
            raise _as_drf(exc) from exc
        return self._out(campaign, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=s.EstimateOutput)
    @action(detail=True, methods=["get"])
    def estimate(self, request, pk=None):
        campaign = self._campaign(pk)
        data = selectors.estimate(campaign)
        return Response(s.EstimateOutput(data).data)

    @extend_schema(request=s.StartInput, responses=s.CampaignOutput, parameters=[IDEMPOTENCY])
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        from campaigns import services

        campaign = self._campaign(pk)
        data = s.StartInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            campaign = services.campaign_start(
                campaign=campaign,
                at=data.validated_data.get("at"),
                by=_actor(request),
                idempotency_key=_scoped_key(request),
            )
        except DjangoValidationError as exc:
            raise _as_drf(exc) from exc
        return self._out(campaign)

    def _lifecycle(self, request, pk, name: str) -> Response:
        from campaigns import services

        campaign = self._campaign(pk)
        if name == "pause" and campaign.state not in ("running", "scheduled", "paused"):
            # The service keeps quiet for the engine racing an end; a caller hears why.
            raise ValidationError({"detail": [_(services.ERR_NOT_PAUSABLE)]})
        try:
            campaign = getattr(services, f"campaign_{name}")(campaign=campaign, by=_actor(request))
        except DjangoValidationError as exc:
            raise _as_drf(exc) from exc
        return self._out(campaign)

    @extend_schema(request=None, responses=s.CampaignOutput)
    @action(detail=True, methods=["post"])
    def pause(self, request, pk=None):
        return self._lifecycle(request, pk, "pause")

    @extend_schema(request=None, responses=s.CampaignOutput)
    @action(detail=True, methods=["post"])
    def resume(self, request, pk=None):
        return self._lifecycle(request, pk, "resume")

    @extend_schema(request=None, responses=s.CampaignOutput)
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        return self._lifecycle(request, pk, "cancel")

    @extend_schema(responses=s.StatsOutput)
    @action(detail=True, methods=["get"])
    def stats(self, request, pk=None):
        campaign = self._campaign(pk)
        from campaigns.selectors import pause_text

        variants = [
            {
                "key": v.key,
                "sent": v.sent_count,
                "delivered": v.delivered_count,
                "read": v.read_count,
                "replied": v.replied_count,
                "failed": v.failed_count,
                "clicked": v.clicked_count,
            }
            for v in campaign.variants.order_by("key")
        ]
        return Response(
            {
                "id": campaign.pk,
                "state": campaign.state,
                "pause_reason": campaign.pause_reason,
                "pause_text": pause_text(campaign),
                "counters": {name: getattr(campaign, f"{name}_count") for name in COUNTER_FIELDS},
                "variants": variants,
            }
        )

    @extend_schema(
        responses=s.RecipientOutput(many=True),
        parameters=[
            OpenApiParameter(
                "state", str, description="queued, sent, delivered, read, replied, failed, skipped, unknown"
            ),
            OpenApiParameter("code", str, description="failed recipients with this error code"),
            OpenApiParameter("variant", int),
        ],
    )
    @action(detail=True, methods=["get"])
    def recipients(self, request, pk=None):
        campaign = self._campaign(pk)
        qs = Recipient.objects.filter(campaign=campaign)
        params = request.query_params
        if params.get("state") in RecipientState.values:
            qs = qs.filter(state=params["state"])
        if params.get("code"):
            qs = qs.filter(state=RecipientState.FAILED, error_code=params["code"][:20])
        if str(params.get("variant", "")).isdigit():
            qs = qs.filter(variant_id=int(params["variant"]))
        paginator = RecipientPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        variants = {v.pk: v.key for v in campaign.variants.all()}
        data = s.RecipientOutput(page, many=True, context={"variants": variants}).data
        return paginator.get_paginated_response(data)
