"""Input and output shapes of the CRM API (validation itself lives in ``crm.validation``)."""

from __future__ import annotations

from rest_framework import serializers

from crm.models import (
    ConsentStatus,
    Contact,
    ContactImport,
    ContactList,
    CustomFieldDefinition,
    ExistingPolicy,
    FieldType,
    Note,
    Segment,
    Tag,
    TimelineEvent,
)


class TagOutput(serializers.ModelSerializer):
    class Meta:
        model = Tag
        fields = ["id", "name", "color", "created_at"]


class TagInput(serializers.Serializer):
    name = serializers.CharField(max_length=64)
    color = serializers.CharField(max_length=16, required=False, default="slate")


class ContactOutput(serializers.ModelSerializer):
    tags = serializers.SerializerMethodField()

    class Meta:
        model = Contact
        fields = [
            "id",
            "name",
            "phone",
            "wa_id",
            "email",
            "tag_ids",
            "tags",
            "custom_fields",
            "owner_id",
            "source",
            "consent_status",
            "consent_changed_at",
            "consent_source",
            "created_at",
            "updated_at",
            "last_interaction_at",
        ]

    def get_tags(self, obj) -> list[str]:
        names = self.context.get("tag_names") or {}
        return [names[t] for t in obj.tag_ids if t in names]


class ContactInput(serializers.Serializer):
    """Fields of a contact to create or change (PATCH sends only what changes)."""

    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=40, required=False, help_text="Any format; stored in E.164.")
    email = serializers.CharField(max_length=254, required=False, allow_blank=True)
    tag_ids = serializers.ListField(child=serializers.IntegerField(), required=False)
    tags = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, help_text="Tag names (created when new)."
    )
    custom_fields = serializers.DictField(required=False)
    owner_id = serializers.IntegerField(required=False, allow_null=True)
    consent_status = serializers.ChoiceField(choices=ConsentStatus.choices, required=False)


class BulkUpsertItem(serializers.Serializer):
    phone = serializers.CharField(max_length=40)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    email = serializers.CharField(max_length=254, required=False, allow_blank=True)
    tags = serializers.ListField(child=serializers.CharField(max_length=200), required=False)
    custom_fields = serializers.DictField(required=False)
    owner_id = serializers.IntegerField(required=False, allow_null=True)
    consent_status = serializers.ChoiceField(choices=ConsentStatus.choices, required=False)


class BulkUpsertInput(serializers.Serializer):
    contacts = serializers.ListField(child=serializers.DictField(), max_length=1000, min_length=1)
    existing = serializers.ChoiceField(choices=ExistingPolicy.choices, default=ExistingPolicy.UPDATE)


class BulkUpsertResult(serializers.Serializer):
    index = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["created", "updated", "unchanged", "skipped", "failed"])
    id = serializers.IntegerField(allow_null=True)
    # DRF's metaclass moves declared fields off the class, so these names do not clash at runtime.
    errors = serializers.DictField(required=False)  # type: ignore[assignment]


class BulkUpsertOutput(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()
    skipped = serializers.IntegerField()
    failed = serializers.IntegerField()
    results = BulkUpsertResult(many=True)


class ConsentInput(serializers.Serializer):
    source = serializers.CharField(max_length=64, required=False, default="api")  # type: ignore[assignment]  # declared field, see BulkUpsertResult


class NoteOutput(serializers.ModelSerializer):
    class Meta:
        model = Note
        fields = ["id", "body", "author_id", "created_at"]


class NoteInput(serializers.Serializer):
    body = serializers.CharField(max_length=5000)


class TimelineEventOutput(serializers.ModelSerializer):
    class Meta:
        model = TimelineEvent
        fields = ["id", "kind", "data", "actor_id", "at"]


class CustomFieldOutput(serializers.ModelSerializer):
    class Meta:
        model = CustomFieldDefinition
        fields = ["id", "key", "label", "field_type", "choices", "required", "position"]


class CustomFieldInput(serializers.Serializer):
    key = serializers.RegexField(r"^[a-z][a-z0-9_]{0,47}$", required=False)
    # Declared fields named like Field attributes (see BulkUpsertResult).
    label = serializers.CharField(max_length=80)  # type: ignore[assignment]
    field_type = serializers.ChoiceField(choices=FieldType.choices, required=False)
    choices = serializers.ListField(child=serializers.CharField(max_length=80), required=False, default=list)
    required = serializers.BooleanField(required=False, default=False)  # type: ignore[assignment]


class ContactListOutput(serializers.ModelSerializer):
    count = serializers.IntegerField(read_only=True)

    class Meta:
        model = ContactList
        fields = ["id", "name", "description", "count", "created_at"]


class ContactListInput(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")


class ListMembersInput(serializers.Serializer):
    contact_ids = serializers.ListField(child=serializers.IntegerField(), max_length=10000, min_length=1)


class SegmentOutput(serializers.ModelSerializer):
    count = serializers.IntegerField(read_only=True, required=False)

    class Meta:
        model = Segment
        fields = ["id", "name", "filters", "count", "created_at", "updated_at"]


class SegmentInput(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    filters = serializers.DictField(
        help_text="See crm.segments: q, tags_any/all/none, consent, source, owner, list, date ranges, fields."
    )


class FiltersInput(serializers.Serializer):
    filters = serializers.DictField()


class CountOutput(serializers.Serializer):
    count = serializers.IntegerField()


class ImportOutput(serializers.ModelSerializer):
    progress_percent = serializers.IntegerField(read_only=True)
    failed_rows_url = serializers.SerializerMethodField()

    class Meta:
        model = ContactImport
        fields = [
            "id",
            "original_name",
            "file_format",
            "encoding",
            "delimiter",
            "headers",
            "preview",
            "mapping",
            "tag_ids",
            "contact_list",
            "existing",
            "status",
            "total_rows",
            "processed_rows",
            "progress_percent",
            "created_count",
            "updated_count",
            "skipped_count",
            "failed_count",
            "failed_rows_url",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]

    def get_failed_rows_url(self, obj) -> str | None:
        return f"/api/v1/imports/{obj.pk}/failed-rows/" if obj.failed_file else None


class ImportUploadInput(serializers.Serializer):
    file = serializers.FileField()


class ImportStartInput(serializers.Serializer):
    mapping = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        required=False,
        help_text='Column index -> field ("name", "last_name", "phone", "email", "tags", "consent", "cf:<key>", ""). '
        "Omitted: the guessed or remembered mapping.",
    )
    tags = serializers.ListField(child=serializers.CharField(max_length=64), required=False, default=list)
    contact_list = serializers.IntegerField(required=False, allow_null=True)
    existing = serializers.ChoiceField(choices=ExistingPolicy.choices, default=ExistingPolicy.UPDATE)
