"""CRM API: contacts (CRUD, search, bulk upsert, consent, notes, timeline), tags, custom
fields, lists, segments (with counts) and imports.

Same role rules as the pages: viewers read; agents write contacts, tags, lists, segments and
imports; admins manage custom fields. Every view runs in the request's company schema
(``TenantAPIMixin``), so another company's ids answer 404.
"""

from __future__ import annotations

import os

from django.db import IntegrityError
from django.db.models import Count
from django.http import FileResponse, Http404
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from crm import services
from crm.api import serializers as s
from crm.importing import ImportFileError, mapping_clean
from crm.listing import DEFAULT_SORT, SORTS, CursorError, contacts_for_query, keyset_page, needs_bounded_search
from crm.models import (
    BulkAction,
    Contact,
    ContactImport,
    ContactList,
    CustomFieldDefinition,
    ImportStatus,
    Note,
    Segment,
    Tag,
    TimelineEvent,
)
from crm.segments import FilterError, filters_clean, filters_q
from crm.validation import (
    ERR_LIST_NAME_TAKEN,
    ERR_SEGMENT_NAME_TAKEN,
    ERR_TAG_NAME_TAKEN,
    ContactDataError,
    bulk_items_clean,
    contact_data_clean,
    tag_names_resolve,
)
from tenants.api.base import TenantViewSet
from tenants.limits import LimitReached
from tenants.permissions import ABILITIES
from tenants.roles import Role

ERR_IMPORT_STARTED = _("This import has already started.")
ERR_LIST_UNKNOWN = _("This list does not exist.")
ERR_TAG_EMPTY = _("Tag names have 1 to 64 characters.")
ERR_FIELD_KEY_TYPE = _("Give the field a key and a type.")


def _actor(request):
    user = request.user
    return user if getattr(user, "pk", None) else None


def _errors(exc: ContactDataError) -> dict:
    return {
        k: ({kk: str(vv) for kk, vv in v.items()} if isinstance(v, dict) else [str(v)]) for k, v in exc.errors.items()
    }


class ContactPagination(BasePagination):
    """The contact list's keyset pages (``crm.listing``): ``sort``, ``size`` (10, 25, 50, 100),
    and opaque ``after``/``before`` cursors, answered as ``{next, previous, results}`` with the
    cursors inside the links. Fast at any depth and for any search (see ``SEARCH_WINDOW``)."""

    def paginate_queryset(self, queryset, request, view=None):
        sort = request.query_params.get("sort") or DEFAULT_SORT
        if sort not in SORTS:
            raise ValidationError({"sort": [_("Use one of: %(choices)s.") % {"choices": ", ".join(SORTS)}]})
        self.request = request
        try:
            self.page = keyset_page(
                request, queryset, sort, search=needs_bounded_search({"q": request.query_params.get("q", "")})
            )
        except CursorError as exc:
            key = "after" if request.query_params.get("after") else "before"
            raise ValidationError({key: [str(exc.message)]}) from None
        return self.page.items

    def _link(self, **params):
        url = self.request.build_absolute_uri()
        for key in ("after", "before"):
            url = remove_query_param(url, key)
        for key, value in params.items():
            url = replace_query_param(url, key, value)
        return url

    def get_paginated_response(self, data):
        page = self.page
        return Response(
            {
                "next": self._link(after=page.next_cursor) if page.has_next else None,
                "previous": self._link(before=page.previous_cursor) if page.has_previous else None,
                "results": data,
            }
        )

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["results"],
            "properties": {
                "next": {"type": "string", "nullable": True, "format": "uri"},
                "previous": {"type": "string", "nullable": True, "format": "uri"},
                "results": schema,
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {"name": "sort", "in": "query", "required": False, "schema": {"type": "string", "enum": list(SORTS)}},
            {
                "name": "size",
                "in": "query",
                "required": False,
                "schema": {"type": "integer", "enum": [10, 25, 50, 100]},
            },
            {"name": "after", "in": "query", "required": False, "schema": {"type": "string"}},
            {"name": "before", "in": "query", "required": False, "schema": {"type": "string"}},
        ]


LIST_PARAMETERS = [
    OpenApiParameter("q", str, description="Search: name words, email, phone in any format."),
    OpenApiParameter("tag", int, many=True, description="Tag ids (any of them; tag_mode=all for all)."),
    OpenApiParameter("notag", int, many=True),
    OpenApiParameter("consent", str, many=True, enum=["opted_in", "opted_out", "unknown"]),
    OpenApiParameter("owner", str, many=True, description='User ids, or "none".'),
    OpenApiParameter("segment", int),
    OpenApiParameter("list", int),
]


class ContactViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, TenantViewSet):
    serializer_class = s.ContactOutput
    pagination_class = ContactPagination

    def get_queryset(self):
        if self.action == "list":
            try:
                queryset, _clean, _segment = contacts_for_query(self.request.query_params)
            except FilterError as exc:
                raise ValidationError({"filters": [str(exc.message)]}) from exc
            return queryset
        return Contact.objects.all()

    def get_serializer_context(self):
        context = super().get_serializer_context()
        context["tag_names"] = {t.id: t.name for t in Tag.objects.all()}
        return context

    @extend_schema(parameters=LIST_PARAMETERS)
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    def _clean(self, request, instance=None, partial=False) -> dict:
        data = s.ContactInput(data=request.data, partial=partial)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        names = values.pop("tags", None)
        try:
            if names is not None:
                values["tag_ids"] = sorted(set(values.get("tag_ids", [])) | set(tag_names_resolve(names, create=True)))
            return contact_data_clean(values, instance=instance, partial=partial)
        except ContactDataError as exc:
            raise ValidationError(_errors(exc)) from exc

    @extend_schema(request=s.ContactInput, responses={201: s.ContactOutput})
    def create(self, request):
        clean = self._clean(request)
        try:
            contact = services.contact_create(data=clean, by=_actor(request), source="api")
        except LimitReached as exc:
            raise ValidationError({"detail": exc.messages}) from exc
        return Response(self.get_serializer(contact).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.ContactInput, responses=s.ContactOutput)
    def partial_update(self, request, pk=None):
        contact = self.get_object()
        clean = self._clean(request, instance=contact, partial=True)
        services.contact_update(contact=contact, data=clean, by=_actor(request))
        contact.refresh_from_db()
        return Response(self.get_serializer(contact).data)

    @extend_schema(request=s.ContactInput, responses=s.ContactOutput)
    def update(self, request, pk=None):
        contact = self.get_object()
        clean = self._clean(request, instance=contact, partial=False)
        services.contact_update(contact=contact, data=clean, by=_actor(request))
        contact.refresh_from_db()
        return Response(self.get_serializer(contact).data)

    def perform_destroy(self, instance):
        try:
            services.contacts_bulk_action(
                queryset=Contact.objects.filter(pk=instance.pk),
                action=BulkAction.DELETE,
                params={},
                by=_actor(self.request),
            )
        except ContactDataError as exc:
            raise ValidationError(_errors(exc)) from None

    @extend_schema(request=s.BulkUpsertInput, responses=s.BulkUpsertOutput)
    @action(detail=False, methods=["post"], url_path="bulk-upsert")
    def bulk_upsert(self, request):
        """Create or update up to 1,000 contacts matched by phone; one result per item."""
        data = s.BulkUpsertInput(data=request.data)
        data.is_valid(raise_exception=True)
        items = data.validated_data["contacts"]
        checked = bulk_items_clean(items)
        valid = [(i, clean) for i, (clean, errors) in enumerate(checked) if clean is not None]
        outcome = services.contacts_bulk_upsert(
            items=[clean for _, clean in valid], existing=data.validated_data["existing"], by=_actor(request)
        )
        results: list[dict] = [{}] * len(items)
        for (index, _clean), result in zip(valid, outcome, strict=True):
            results[index] = {"index": index, **result}
        for index, (clean, errors) in enumerate(checked):
            if clean is None:
                results[index] = {"index": index, "status": "failed", "id": None, "errors": errors}
        counts = {
            k: sum(1 for r in results if r["status"] == k)
            for k in ("created", "updated", "unchanged", "skipped", "failed")
        }
        return Response({**counts, "results": results})

    @extend_schema(request=s.ConsentInput, responses=s.ContactOutput)
    @action(detail=True, methods=["post"], url_path="opt-out")
    def opt_out(self, request, pk=None):
        contact = self.get_object()
        data = s.ConsentInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.contact_opt_out(contact=contact, source=data.validated_data["source"], by=_actor(request))
        return Response(self.get_serializer(contact).data)

    @extend_schema(request=s.ConsentInput, responses=s.ContactOutput)
    @action(detail=True, methods=["post"], url_path="opt-in")
    def opt_in(self, request, pk=None):
        contact = self.get_object()
        data = s.ConsentInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.contact_opt_in(contact=contact, source=data.validated_data["source"], by=_actor(request))
        return Response(self.get_serializer(contact).data)

    @extend_schema(request=s.NoteInput, responses=s.NoteOutput(many=True))
    @action(detail=True, methods=["get", "post"])
    def notes(self, request, pk=None):
        contact = self.get_object()
        if request.method == "POST":
            data = s.NoteInput(data=request.data)
            data.is_valid(raise_exception=True)
            note = services.note_create(contact=contact, body=data.validated_data["body"], by=_actor(request))
            return Response(s.NoteOutput(note).data, status=status.HTTP_201_CREATED)
        return Response(s.NoteOutput(Note.objects.filter(contact=contact)[:200], many=True).data)

    @extend_schema(responses=s.TimelineEventOutput(many=True))
    @action(detail=True, methods=["get"])
    def timeline(self, request, pk=None):
        contact = self.get_object()
        events = TimelineEvent.objects.filter(contact=contact).order_by("-at", "-id")[:200]
        return Response(s.TimelineEventOutput(events, many=True).data)


class TagViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, TenantViewSet):
    serializer_class = s.TagOutput
    pagination_class = None
    queryset = Tag.objects.all()

    @property
    def write_role(self) -> str:
        """Creating a tag is an agent's work; renaming or deleting one is the pages' "tags.manage"."""
        return ABILITIES["tags.manage"] if self.action in ("partial_update", "update", "destroy") else Role.AGENT

    @extend_schema(request=s.TagInput, responses={201: s.TagOutput})
    def create(self, request):
        data = s.TagInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            tag = services.tag_create(name=data.validated_data["name"], color=data.validated_data["color"])
        except IntegrityError:
            raise ValidationError({"name": [str(ERR_TAG_NAME_TAKEN)]}) from None
        return Response(s.TagOutput(tag).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.TagInput, responses=s.TagOutput)
    def partial_update(self, request, pk=None):
        tag = self.get_object()
        data = s.TagInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            services.tag_update(tag=tag, name=data.validated_data["name"], color=data.validated_data.get("color"))
        except IntegrityError:
            raise ValidationError({"name": [str(ERR_TAG_NAME_TAKEN)]}) from None
        return Response(s.TagOutput(tag).data)

    def perform_destroy(self, instance):
        services.tag_delete(tag=instance)


class CustomFieldViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, TenantViewSet):
    """Custom field definitions: everyone reads them, admins change them."""

    serializer_class = s.CustomFieldOutput
    pagination_class = None
    queryset = CustomFieldDefinition.objects.all()
    write_role = Role.ADMIN

    @extend_schema(request=s.CustomFieldInput, responses={201: s.CustomFieldOutput})
    def create(self, request):
        from crm.fields import ERR_FIELD_CHOICES_MISSING, ERR_FIELD_KEY_TAKEN

        data = s.CustomFieldInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        if not v.get("key") or not v.get("field_type"):
            raise ValidationError({"key": [str(ERR_FIELD_KEY_TYPE)]})
        if v["field_type"] == "choice" and not v["choices"]:
            raise ValidationError({"choices": [str(ERR_FIELD_CHOICES_MISSING)]})
        if CustomFieldDefinition.objects.filter(key=v["key"]).exists():
            raise ValidationError({"key": [str(ERR_FIELD_KEY_TAKEN)]})
        definition = services.custom_field_create(
            key=v["key"],
            label=v["label"],
            field_type=v["field_type"],
            choices=v["choices"] if v["field_type"] == "choice" else [],
            required=v["required"],
        )
        return Response(s.CustomFieldOutput(definition).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.CustomFieldInput, responses=s.CustomFieldOutput)
    def partial_update(self, request, pk=None):
        definition = self.get_object()
        data = s.CustomFieldInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        services.custom_field_update(
            definition=definition,
            label=v["label"],
            choices=v["choices"] if definition.field_type == "choice" else [],
            required=v["required"],
        )
        return Response(s.CustomFieldOutput(definition).data)

    def perform_destroy(self, instance):
        services.custom_field_delete(definition=instance)


class ContactListViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, TenantViewSet):
    serializer_class = s.ContactListOutput
    pagination_class = None

    def get_queryset(self):
        return ContactList.objects.annotate(count=Count("members")).order_by("name")

    @extend_schema(request=s.ContactListInput, responses={201: s.ContactListOutput})
    def create(self, request):
        data = s.ContactListInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            contact_list = services.contact_list_create(**data.validated_data)
        except IntegrityError:
            raise ValidationError({"name": [str(ERR_LIST_NAME_TAKEN)]}) from None
        contact_list.count = 0
        return Response(s.ContactListOutput(contact_list).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance):
        services.contact_list_delete(contact_list=instance)

    @extend_schema(request=s.ListMembersInput, responses=s.CountOutput)
    @action(detail=True, methods=["post", "delete"])
    def members(self, request, pk=None):
        """Add (POST) or remove (DELETE) contacts by id; answers how many changed."""
        contact_list = self.get_object()
        data = s.ListMembersInput(data=request.data)
        data.is_valid(raise_exception=True)
        ids = data.validated_data["contact_ids"]
        if request.method == "DELETE":
            count = services.contact_list_remove(contact_list=contact_list, contact_ids=ids)
        else:
            operation = services.contacts_bulk_action(
                queryset=Contact.objects.filter(pk__in=ids),
                action=BulkAction.ADD_TO_LIST,
                params={"list_id": contact_list.pk},
                by=_actor(request),
            )
            count = operation.affected
        return Response({"count": count})


class SegmentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, mixins.DestroyModelMixin, TenantViewSet):
    serializer_class = s.SegmentOutput
    pagination_class = None
    queryset = Segment.objects.all()

    def retrieve(self, request, pk=None):
        segment = self.get_object()
        segment.count = Contact.objects.filter(filters_q(filters_clean(segment.filters))).count()
        return Response(s.SegmentOutput(segment).data)

    def _save(self, request, segment=None):
        data = s.SegmentInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            filters = filters_clean(data.validated_data["filters"])
        except FilterError as exc:
            raise ValidationError({"filters": [str(exc.message)]}) from exc
        try:
            segment = services.segment_save(segment=segment, name=data.validated_data["name"], filters=filters)
        except IntegrityError:
            raise ValidationError({"name": [str(ERR_SEGMENT_NAME_TAKEN)]}) from None
        segment.count = Contact.objects.filter(filters_q(filters)).count()
        return segment

    @extend_schema(request=s.SegmentInput, responses={201: s.SegmentOutput})
    def create(self, request):
        return Response(s.SegmentOutput(self._save(request)).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.SegmentInput, responses=s.SegmentOutput)
    def partial_update(self, request, pk=None):
        return Response(s.SegmentOutput(self._save(request, self.get_object())).data)

    def perform_destroy(self, instance):
        services.segment_delete(segment=instance)

    @extend_schema(request=s.FiltersInput, responses=s.CountOutput)
    @action(detail=False, methods=["post"])
    def count(self, request):
        """How many contacts filters match (the live count of a segment being edited)."""
        data = s.FiltersInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            filters = filters_clean(data.validated_data["filters"])
        except FilterError as exc:
            raise ValidationError({"filters": [str(exc.message)]}) from exc
        return Response({"count": Contact.objects.filter(filters_q(filters)).count()})

    def get_permissions(self):
        # Counting reads (POST only to carry a JSON body): viewers may ask.
        if self.action == "count":
            self.write_role = Role.VIEWER
        return super().get_permissions()


class ImportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantViewSet):
    """Imports: upload a file (inspected at once), start it with a mapping, follow its status,
    download the failed rows."""

    serializer_class = s.ImportOutput
    queryset = ContactImport.objects.all()
    pagination_class = None
    parser_classes = [MultiPartParser, FormParser, JSONParser]
    read_role = Role.AGENT

    def list(self, request, *args, **kwargs):
        return Response(s.ImportOutput(ContactImport.objects.order_by("-created_at")[:50], many=True).data)

    @extend_schema(request={"multipart/form-data": s.ImportUploadInput}, responses={201: s.ImportOutput})
    def create(self, request):
        data = s.ImportUploadInput(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            contact_import = services.contact_import_upload(upload=data.validated_data["file"], by=_actor(request))
        except ImportFileError as exc:
            raise ValidationError({"file": [str(exc.message)]}) from exc
        return Response(s.ImportOutput(contact_import).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.ImportStartInput, responses=s.ImportOutput)
    @action(detail=True, methods=["post"])
    def start(self, request, pk=None):
        from crm.importing import ImportFileError as MappingError

        contact_import = self.get_object()
        if contact_import.status != ImportStatus.MAPPING:
            raise ValidationError({"status": [str(ERR_IMPORT_STARTED)]})
        data = s.ImportStartInput(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        try:
            mapping = mapping_clean(
                v.get("mapping", contact_import.mapping),
                contact_import.headers,
                list(CustomFieldDefinition.objects.all()),
            )
        except MappingError as exc:
            raise ValidationError({"mapping": [str(exc.message)]}) from exc
        list_id = v.get("contact_list")
        if list_id is not None and not ContactList.objects.filter(pk=list_id).exists():
            raise ValidationError({"contact_list": [str(ERR_LIST_UNKNOWN)]})
        if any(len(t.strip()) == 0 for t in v["tags"]):
            raise ValidationError({"tags": [str(ERR_TAG_EMPTY)]})
        try:
            services.contact_import_start(
                contact_import=contact_import,
                mapping=mapping,
                tag_ids=services.tags_ensure(names=v["tags"]) if v["tags"] else [],
                list_id=list_id,
                existing=v["existing"],
            )
        except LimitReached as exc:
            raise ValidationError({"detail": exc.messages}) from exc
        return Response(s.ImportOutput(contact_import).data)

    @extend_schema(responses={(200, "text/csv"): bytes})
    @action(detail=True, methods=["get"], url_path="failed-rows")
    def failed_rows(self, request, pk=None):
        contact_import = self.get_object()
        if not contact_import.failed_file:
            raise Http404
        return FileResponse(
            contact_import.failed_file.open("rb"),
            as_attachment=True,
            filename=os.path.basename(contact_import.failed_file.name),
            content_type="text/csv",
        )
