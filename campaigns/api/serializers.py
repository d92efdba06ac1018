"""Input and output serializers of the campaigns API (nested where the pages nest)."""

from __future__ import annotations

from rest_framework import serializers

from campaigns.models import (
    AudienceKind,
    Campaign,
    CampaignVariant,
    MessageTemplate,
    Recipient,
    TemplateCategory,
    WinnerMetric,
)


class TemplateOutput(serializers.ModelSerializer):
    rejection_text = serializers.SerializerMethodField()

    class Meta:
        model = MessageTemplate
        fields = [
            "id",
            "origin",
            "channel",
            "waba_id",
            "name",
            "language",
            "category",
            "parameter_format",
            "components",
            "variables",
            "status",
            "quality",
            "rejection_reason",
            "rejection_text",
            "meta_template_id",
            "submitted_at",
            "synced_at",
            "status_changed_at",
            "created_at",
            "updated_at",
        ]

    def get_rejection_text(self, obj) -> str:
        from campaigns.message_templates import rejection_text

        return rejection_text(obj.rejection_reason) if obj.rejection_reason else ""


class TemplateInput(serializers.Serializer):
    channel = serializers.IntegerField(
        help_text="The number the template is for; a WhatsApp Cloud one makes a Meta template."
    )
    name = serializers.CharField(max_length=512)
    language = serializers.CharField(max_length=15, default="pt_BR")
    category = serializers.ChoiceField(choices=TemplateCategory.choices, default=TemplateCategory.MARKETING)
    components = serializers.ListField(
        child=serializers.DictField(), help_text="Meta's components, examples included (local templates: a BODY only)."
    )
    variables = serializers.DictField(required=False, default=dict, help_text="Where each variable's value comes from.")
    submit = serializers.BooleanField(default=False, help_text="Meta templates: send for review at once.")


class TemplateUpdateInput(serializers.Serializer):
    components = serializers.ListField(child=serializers.DictField(), required=False)
    category = serializers.ChoiceField(choices=TemplateCategory.choices, required=False)
    variables = serializers.DictField(required=False)


class TemplateSyncInput(serializers.Serializer):
    channel = serializers.IntegerField()


class TemplateSyncOutput(serializers.Serializer):
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    removed = serializers.IntegerField()


class VariantOutput(serializers.ModelSerializer):
    class Meta:
        model = CampaignVariant
        fields = [
            "id",
            "key",
            "template",
            "body",
            "variables",
            "split",
            "sent_count",
            "delivered_count",
            "read_count",
            "replied_count",
            "failed_count",
            "clicked_count",
        ]


COUNTERS = [
    "total_count",
    "queued_count",
    "sent_count",
    "delivered_count",
    "read_count",
    "replied_count",
    "failed_count",
    "skipped_count",
    "unknown_count",
    "clicked_count",
]


class CampaignOutput(serializers.ModelSerializer):
    variants = VariantOutput(many=True, read_only=True)
    pause_text = serializers.SerializerMethodField()

    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "channel",
            "state",
            "pause_reason",
            "pause_text",
            "audience_kind",
            "segment_ids",
            "list_ids",
            "tag_ids",
            "upload",
            "scheduled_at",
            "time_zone",
            "window_start",
            "window_end",
            "window_days",
            "rate_mps",
            "ab_test_share",
            "ab_winner_metric",
            "ab_wait",
            "ab_phase",
            "ab_winner",
            "waiting_until",
            "started_at",
            "completed_at",
            "cancelled_at",
            "excluded",
            "estimated_cost",
            "cost_currency",
            *COUNTERS,
            "variants",
            "created_at",
        ]

    def get_pause_text(self, obj) -> str:
        from campaigns.selectors import pause_text

        return pause_text(obj)


class VariantInput(serializers.Serializer):
    template = serializers.IntegerField(required=False, allow_null=True)
    body = serializers.CharField(required=False, allow_blank=True, default="", max_length=4096)
    split = serializers.IntegerField(min_value=1, max_value=100, default=100)
    variables = serializers.DictField(required=False, default=dict)


class CampaignInput(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    channel = serializers.IntegerField()
    variants = VariantInput(many=True)
    audience_kind = serializers.ChoiceField(choices=AudienceKind.choices, default=AudienceKind.SEGMENTS)
    segment_ids = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)
    list_ids = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)
    tag_ids = serializers.ListField(child=serializers.IntegerField(), required=False, default=list)
    upload = serializers.IntegerField(required=False, allow_null=True)
    variables = serializers.DictField(required=False, default=dict)
    window_start = serializers.TimeField(required=False, allow_null=True)
    window_end = serializers.TimeField(required=False, allow_null=True)
    window_days = serializers.ListField(child=serializers.IntegerField(min_value=0, max_value=6), required=False)
    rate_mps = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    ab_test_share = serializers.IntegerField(required=False, default=0, min_value=0, max_value=90)
    ab_winner_metric = serializers.ChoiceField(choices=WinnerMetric.choices, default=WinnerMetric.READ)
    ab_wait_minutes = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=72 * 60)


class StartInput(serializers.Serializer):
    at = serializers.DateTimeField(required=False, allow_null=True, help_text="Send at (aware); empty: now.")


class EstimateOutput(serializers.Serializer):
    recipients = serializers.IntegerField()
    excluded = serializers.DictField(child=serializers.IntegerField())
    price = serializers.DecimalField(max_digits=10, decimal_places=5, allow_null=True)
    currency = serializers.CharField()
    segments = serializers.IntegerField()
    estimated_cost = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    tier_users = serializers.IntegerField(allow_null=True)
    tier_left = serializers.IntegerField(allow_null=True)
    exceeds_tier = serializers.BooleanField()


class StatsOutput(serializers.Serializer):
    id = serializers.IntegerField()
    state = serializers.CharField()
    pause_reason = serializers.CharField()
    pause_text = serializers.CharField()
    counters = serializers.DictField(child=serializers.IntegerField())
    variants = serializers.ListField(child=serializers.DictField())


class RecipientOutput(serializers.ModelSerializer):
    reason_text = serializers.SerializerMethodField()
    variant_key = serializers.SerializerMethodField()

    class Meta:
        model = Recipient
        fields = [
            "id",
            "contact",
            "phone",
            "name",
            "variant",
            "variant_key",
            "state",
            "reason",
            "reason_text",
            "error_code",
            "error_title",
            "error_details",
            "attempts",
            "sent_at",
            "delivered_at",
            "read_at",
            "replied_at",
            "failed_at",
            "clicked_at",
        ]

    def get_reason_text(self, obj) -> str:
        from campaigns.errors import recipient_reason

        return recipient_reason(obj)

    def get_variant_key(self, obj) -> str:
        return (self.context.get("variants") or {}).get(obj.variant_id, "")
