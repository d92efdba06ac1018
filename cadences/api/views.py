"""Cadences API: cadences (CRUD, status), their steps (add, edit, remove, reorder), per-step
figures, and enrolments (enrol, unenrol, list).

Roles as the pages: viewers read; admins change cadences and steps; agents enrol and unenrol.
Another company's ids answer 404 (``TenantAPIMixin``); bad input answers 400 with the same
translated messages as the pages.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.response import Response

from cadences import selectors, services
from cadences.api import serializers as s
from cadences.models import Cadence, CadenceStep, Enrollment, EnrolSource
from tenants.api.base import TenantViewSet
from tenants.roles import Role


def _as_drf(exc: DjangoValidationError) -> ValidationError:
    if hasattr(exc, "message_dict"):
        return ValidationError(exc.message_dict)
    return ValidationError({"detail": exc.messages})


def _actor(request):
    user = request.user
    return user if getattr(user, "pk", None) else None


def _resolve(data: dict) -> dict:
    """Ids in the input become the rows the services take (404 for another company's)."""
    from crm.models import Segment
    from inbox.models import Channel

    out = dict(data)
    if "channel" in out:
        out["channel"] = get_object_or_404(Channel, pk=out["channel"])
    if out.get("trigger_channel") is not None:
        out["trigger_channel"] = get_object_or_404(Channel, pk=out["trigger_channel"])
    if out.get("segment") is not None:
        out["segment"] = get_object_or_404(Segment, pk=out["segment"])
    return out


class EnrollmentPagination(CursorPagination):
    page_size = 100
    ordering = "-id"


class CadenceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Cadences with their steps. ``?status=`` filters the list."""

    serializer_class = s.CadenceOutput
    write_role = Role.ADMIN
    pagination_class = None

    def get_queryset(self):
        return selectors.cadence_list(status=self.request.query_params.get("status", "")).prefetch_related("steps")

    def _out(self, cadence: Cadence, code=status.HTTP_200_OK) -> Response:
        cadence = Cadence.objects.prefetch_related("steps").get(pk=cadence.pk)
        return Response(s.CadenceOutput(cadence).data, status=code)

    @extend_schema(request=s.CadenceInput, responses={201: s.CadenceOutput})
    def create(self, request):
        data = s.CadenceInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            cadence = services.cadence_create(by=_actor(request), **_resolve(data.validated_data))
        except DjangoValidationError as exc:
            raise _as_drf(exc) from exc
        return self._out(cadence, status.HTTP_201_CREATED)

    @extend_schema(request=s.CadenceInput, responses={200: s.CadenceOutput})
    def partial_update(self, request, pk=None):
        cadence = self.get_object()
        data = s.CadenceInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        try:
            cadence = services.cadence_update(cadence=cadence, by=_actor(request), **_resolve(data.validated_data))
        except DjangoValidationError as exc:
            raise _as_drf(exc) from exc
        return self._out(cadence)

    @extend_schema(request=s.StatusInput, responses={200: s.CadenceOutput})
    @action(detail=True, methods=["post"], url_path="status")
    def set_status(self, request, pk=None):
        cadence = self.get_object()
        data = s.StatusInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            cadence = services.cadence_set_status(
                cadence=cadence, status=data.validated_data["status"], by=_actor(request)
            )
        except DjangoValidationError as exc:
            raise _as_drf(exc) from exc
        return self._out(cadence)

    @extend_schema(responses={200: s.StepStatsOutput(many=True)})
    @action(detail=True, methods=["get"])
    def stats(self, request, pk=None):
        return Response(s.StepStatsOutput(selectors.step_stats(cadence=self.get_object()), many=True).data)

    @extend_schema(request=s.StepInput, responses={201: s.StepOutput})
    @action(detail=True, methods=["post"])
    def steps(self, request, pk=None):
        cadence = self.get_object()
        data = s.StepInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            step = services.step_add(
                cadence=cadence,
                kind=data.validated_data["kind"],
                config=data.validated_data.get("config") or {},
                position=data.validated_data.get("position"),
            )
        except DjangoValidationError as exc:
            raise _as_drf(exc) from exc
        return Response(s.StepOutput(step).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.ReorderInput, responses={200: s.StepOutput(many=True)})
    @action(detail=True, methods=["post"], url_path="steps/reorder")
    def reorder(self, request, pk=None):
        cadence = self.get_object()
        data = s.ReorderInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            steps = services.steps_reorder(cadence=cadence, step_ids=data.validated_data["steps"])
        except DjangoValidationError as exc:
            raise _as_drf(exc) from exc
        return Response(s.StepOutput(steps, many=True).data)


class StepViewSet(TenantViewSet):
    """One step: edit its settings or remove it."""

    serializer_class = s.StepOutput
    write_role = Role.ADMIN
    queryset = CadenceStep.objects.select_related("cadence")

    @extend_schema(request=s.StepUpdateInput, responses={200: s.StepOutput})
    def partial_update(self, request, pk=None):
        step = self.get_object()
        data = s.StepUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            step = services.step_update(step=step, config=data.validated_data["config"])
        except DjangoValidationError as exc:
            raise _as_drf(exc) from exc
        return Response(s.StepOutput(step).data)

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        try:
            services.step_remove(step=self.get_object())
        except DjangoValidationError as exc:
            raise _as_drf(exc) from exc
        return Response(status=status.HTTP_204_NO_CONTENT)


class EnrollmentViewSet(mixins.ListModelMixin, TenantViewSet):
    """Enrolments of one cadence (``/cadences/{cadence}/enrollments/``, ``?state=``); enrol
    with contact ids, the contact list's filters ("all matching") or a segment."""

    serializer_class = s.EnrollmentOutput
    write_role = Role.AGENT
    pagination_class = EnrollmentPagination

    def _cadence(self) -> Cadence:
        return get_object_or_404(Cadence, pk=self.kwargs["cadence_pk"])

    def get_queryset(self):
        return selectors.enrollment_list(cadence=self._cadence(), state=self.request.query_params.get("state", ""))

    @extend_schema(request=s.EnrolInput, responses={200: s.EnrolOutput})
    def create(self, request, cadence_pk=None):
        from crm.models import Segment
        from crm.segments import FilterError
        from crm.selectors import segment_contacts

        cadence = self._cadence()
        data = s.EnrolInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        try:
            if "contact_ids" in values:
                count = services.enrol(
                    cadence=cadence, contact_ids=values["contact_ids"], source=EnrolSource.API, by=_actor(request)
                )
            elif "filters" in values:
                count = services.enrol_matching(cadence=cadence, filters=values["filters"], by=_actor(request))
            else:
                segment = get_object_or_404(Segment, pk=values["segment"])
                count = services.enrol(
                    cadence=cadence, contacts=segment_contacts(segment), source=EnrolSource.API, by=_actor(request)
                )
        except FilterError as exc:
            raise ValidationError({"filters": [str(exc)]}) from exc
        except DjangoValidationError as exc:
            raise _as_drf(exc) from exc
        return Response({"enrolled": count})


class EnrollmentActionViewSet(TenantViewSet):
    serializer_class = s.EnrollmentOutput
    write_role = Role.AGENT
    queryset = Enrollment.objects.select_related("contact", "step")

    @extend_schema(request=None, responses={200: s.EnrollmentOutput})
    @action(detail=True, methods=["post"])
    def unenrol(self, request, pk=None):
        enrollment = services.unenrol(enrollment=self.get_object(), by=_actor(request))
        return Response(s.EnrollmentOutput(enrollment).data)
