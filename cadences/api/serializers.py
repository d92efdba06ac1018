"""Input and output serializers of the cadences API."""

from __future__ import annotations

from rest_framework import serializers

from cadences.models import Cadence, CadenceStep, Enrollment, EnrolMode, Reenrol, ReplyExit, StepKind
from cadences.services import CADENCE_FIELDS


class StepOutput(serializers.ModelSerializer):
    class Meta:
        model = CadenceStep
        fields = ["id", "position", "kind", "config", "campaign", "entered_count", "exited_count", "updated_at"]


class CadenceOutput(serializers.ModelSerializer):
    steps = StepOutput(many=True, read_only=True)

    class Meta:
        model = Cadence
        fields = [
            "id",
            "status",
            *CADENCE_FIELDS,
            "active_count",
            "completed_count",
            "exited_count",
            "steps",
            "created_at",
            "updated_at",
        ]


class CadenceInput(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(max_length=300, required=False, allow_blank=True)
    channel = serializers.IntegerField()
    time_zone = serializers.CharField(max_length=64, required=False)
    weekdays = serializers.ListField(child=serializers.IntegerField(min_value=0, max_value=6), required=False)
    window_start = serializers.TimeField(required=False, allow_null=True)
    window_end = serializers.TimeField(required=False, allow_null=True)
    national_holidays = serializers.BooleanField(required=False)
    holidays_added = serializers.ListField(child=serializers.DateField(), required=False)
    holidays_removed = serializers.ListField(child=serializers.DateField(), required=False)
    exit_on_reply = serializers.ChoiceField(choices=ReplyExit.choices, required=False)
    exit_on_failure = serializers.BooleanField(required=False)
    goal_tag_id = serializers.IntegerField(required=False, allow_null=True)
    reenrol = serializers.ChoiceField(choices=Reenrol.choices, required=False)
    reenrol_after_days = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    enrol_mode = serializers.ChoiceField(choices=EnrolMode.choices, required=False)
    segment = serializers.IntegerField(required=False, allow_null=True)
    trigger_tag_id = serializers.IntegerField(required=False, allow_null=True)
    trigger_keyword = serializers.CharField(max_length=64, required=False, allow_blank=True)
    trigger_channel = serializers.IntegerField(required=False, allow_null=True)


class StatusInput(serializers.Serializer):
    status = serializers.ChoiceField(choices=["active", "paused", "archived"])


class StepInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=StepKind.choices)
    config = serializers.DictField(required=False)
    position = serializers.IntegerField(required=False, min_value=0)


class StepUpdateInput(serializers.Serializer):
    config = serializers.DictField()


class ReorderInput(serializers.Serializer):
    steps = serializers.ListField(child=serializers.IntegerField(), min_length=1)


class EnrolInput(serializers.Serializer):
    """Exactly one of: ``contact_ids``, ``filters`` (the contact list's filters: "all
    matching"), ``segment``."""

    contact_ids = serializers.ListField(child=serializers.IntegerField(), required=False, max_length=10000)
    filters = serializers.DictField(required=False)
    segment = serializers.IntegerField(required=False)

    def validate(self, attrs):
        given = [k for k in ("contact_ids", "filters", "segment") if k in attrs]
        if len(given) != 1:
            from django.utils.translation import gettext as _

            raise serializers.ValidationError(_("Send exactly one of contact_ids, filters or segment."))
        return attrs


class EnrolOutput(serializers.Serializer):
    enrolled = serializers.IntegerField()


class EnrollmentOutput(serializers.ModelSerializer):
    contact_name = serializers.CharField(source="contact.name", read_only=True)
    contact_phone = serializers.CharField(source="contact.phone", read_only=True)
    step_position = serializers.IntegerField(source="step.position", read_only=True, allow_null=True)

    class Meta:
        model = Enrollment
        fields = [
            "id",
            "cadence",
            "contact",
            "contact_name",
            "contact_phone",
            "state",
            "step",
            "step_position",
            "next_due_at",
            "source",
            "exit_reason",
            "last_sent_at",
            "enrolled_at",
            "finished_at",
        ]


class StepStatsOutput(serializers.Serializer):
    step = serializers.IntegerField(source="step.pk")
    position = serializers.IntegerField(source="step.position")
    kind = serializers.CharField(source="step.kind")
    reached = serializers.IntegerField()
    exited = serializers.IntegerField()
    sent = serializers.IntegerField(allow_null=True)
    delivered = serializers.IntegerField(allow_null=True)
    read = serializers.IntegerField(allow_null=True)
    replied = serializers.IntegerField(allow_null=True)
    failed = serializers.IntegerField(allow_null=True)
    queued = serializers.IntegerField(allow_null=True)
