from __future__ import annotations

from rest_framework import serializers

from kanban.models import AIDecision, Card, CardMove, Pipeline, Stage


class StageOutput(serializers.ModelSerializer):
    class Meta:
        model = Stage
        fields = ["id", "name", "color", "kind", "win_probability", "description", "position"]


class StageInput(serializers.Serializer):
    name = serializers.CharField(max_length=80)
    color = serializers.ChoiceField(
        choices=["gray", "blue", "green", "yellow", "red", "purple"], required=False, default="gray"
    )
    kind = serializers.ChoiceField(choices=["open", "won", "lost"], required=False, default="open")
    win_probability = serializers.IntegerField(min_value=0, max_value=100, required=False, default=0)
    description = serializers.CharField(required=False, allow_blank=True, default="")


class PipelineOutput(serializers.ModelSerializer):
    stages = StageOutput(many=True, read_only=True)

    class Meta:
        model = Pipeline
        fields = [
            "id",
            "name",
            "currency",
            "card_fields",
            "stalled_after_days",
            "auto_create_cards",
            "ai_enabled",
            "ai_threshold",
            "ai_backward_allowed",
            "ai_override_minutes",
            "stages",
        ]


class PipelineInput(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    stages = StageInput(many=True, required=False)


class CardOutput(serializers.ModelSerializer):
    class Meta:
        model = Card
        fields = [
            "id",
            "pipeline",
            "stage",
            "rank",
            "title",
            "contact",
            "conversation",
            "value",
            "owner",
            "tag_ids",
            "expected_close",
            "custom_fields",
            "reason",
            "stage_entered_at",
            "closed_at",
            "created_at",
            "updated_at",
        ]


class CardInput(serializers.Serializer):
    pipeline = serializers.IntegerField()
    stage = serializers.IntegerField(required=False, allow_null=True)
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    contact = serializers.IntegerField(required=False, allow_null=True)
    conversation = serializers.IntegerField(required=False, allow_null=True)
    value = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0, required=False, allow_null=True)
    owner = serializers.IntegerField(required=False, allow_null=True)
    tag_ids = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)
    expected_close = serializers.DateField(required=False, allow_null=True)
    custom_fields = serializers.DictField(required=False, default=dict)


class CardUpdate(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False)
    value = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0, required=False)
    owner = serializers.IntegerField(required=False, allow_null=True)
    tag_ids = serializers.ListField(child=serializers.IntegerField(), required=False)
    expected_close = serializers.DateField(required=False, allow_null=True)
    custom_fields = serializers.DictField(required=False)


class MoveInput(serializers.Serializer):
    stage = serializers.IntegerField()
    after = serializers.IntegerField(required=False, allow_null=True, help_text="Place the card right after this card.")
    before = serializers.IntegerField(required=False, allow_null=True, help_text="Or right before this one.")
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class BulkInput(serializers.Serializer):
    pipeline = serializers.IntegerField()
    stage = serializers.IntegerField(required=False, allow_null=True)
    contacts = serializers.ListField(child=serializers.IntegerField(), required=False)
    filters = serializers.DictField(required=False, help_text="CRM contact filters: all matching contacts.")


class BulkOutput(serializers.Serializer):
    created = serializers.IntegerField()


class MoveOutput(serializers.ModelSerializer):
    class Meta:
        model = CardMove
        fields = ["id", "actor_kind", "user", "from_stage", "to_stage", "reason", "at"]


class DecisionOutput(serializers.ModelSerializer):
    class Meta:
        model = AIDecision
        fields = [
            "id",
            "card",
            "outcome",
            "from_stage",
            "stage",
            "confidence",
            "reason",
            "quote",
            "model",
            "tokens_in",
            "tokens_out",
            "cost",
            "decided_by",
            "decided_at",
            "created_at",
        ]
