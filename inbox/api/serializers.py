"""Input and output serializers of the inbox API."""

from __future__ import annotations

from rest_framework import serializers

from inbox.models import CannedResponse, Channel, Conversation, Label, Message
from inbox.selectors import channel_webhook_url, window_closes_at


class InboxChannelOutput(serializers.ModelSerializer):
    webhook_url = serializers.SerializerMethodField()

    class Meta:
        model = Channel
        fields = [
            "id",
            "public_id",
            "kind",
            "name",
            "status",
            "status_detail",
            "session_state",
            "last_activity_at",
            "token_expires_at",
            "token_checked_at",
            "webhook_url",
            "created_at",
        ]

    def get_webhook_url(self, obj) -> str:
        return channel_webhook_url(obj)


class InboxChannelInput(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["whatsapp_cloud", "whatsapp_web", "sms", "sandbox"])
    name = serializers.CharField(max_length=80)
    phone_number_id = serializers.CharField(required=False, allow_blank=True)
    waba_id = serializers.CharField(required=False, allow_blank=True)
    display_phone = serializers.CharField(required=False, allow_blank=True)
    account_sid = serializers.CharField(required=False, allow_blank=True)
    from_number = serializers.CharField(required=False, allow_blank=True)
    access_token = serializers.CharField(required=False, allow_blank=True, write_only=True)
    app_secret = serializers.CharField(required=False, allow_blank=True, write_only=True)
    verify_token = serializers.CharField(required=False, allow_blank=True, write_only=True)
    auth_token = serializers.CharField(required=False, allow_blank=True, write_only=True)


class InboxChannelHealthOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    status_detail = serializers.CharField()
    session_state = serializers.CharField()
    last_activity_at = serializers.DateTimeField(allow_null=True)
    token_expires_at = serializers.DateTimeField(allow_null=True)
    token_checked_at = serializers.DateTimeField(allow_null=True)


class InboxLabelOutput(serializers.ModelSerializer):
    class Meta:
        model = Label
        fields = ["id", "name", "color"]


class InboxLabelInput(serializers.Serializer):
    name = serializers.CharField(max_length=50)
    color = serializers.CharField(max_length=20, required=False, default="slate")


class InboxCannedOutput(serializers.ModelSerializer):
    class Meta:
        model = CannedResponse
        fields = ["id", "shortcut", "title", "body"]


class InboxCannedInput(serializers.Serializer):
    shortcut = serializers.CharField(max_length=41)
    title = serializers.CharField(max_length=80, required=False, allow_blank=True, default="")
    body = serializers.CharField()


class InboxContactBrief(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    phone = serializers.CharField()


class InboxConversationOutput(serializers.ModelSerializer):
    contact = InboxContactBrief()
    labels = InboxLabelOutput(many=True)
    window_closes_at = serializers.SerializerMethodField()

    class Meta:
        model = Conversation
        fields = [
            "id",
            "contact",
            "channel_id",
            "status",
            "snoozed_until",
            "assignee_id",
            "labels",
            "unread_count",
            "last_message_at",
            "last_message_preview",
            "last_inbound_at",
            "window_closes_at",
            "created_at",
        ]

    def get_window_closes_at(self, obj) -> str | None:
        closes = window_closes_at(obj)
        return closes.isoformat() if closes else None


class InboxAssignInput(serializers.Serializer):
    assignee = serializers.IntegerField(allow_null=True, required=False)
    auto = serializers.BooleanField(required=False, default=False)


class InboxStatusInput(serializers.Serializer):
    status = serializers.ChoiceField(choices=["open", "pending", "resolved", "snoozed"])
    snoozed_until = serializers.DateTimeField(required=False, allow_null=True)


class InboxLabelsInput(serializers.Serializer):
    labels = serializers.ListField(child=serializers.IntegerField(min_value=1, max_value=2**63 - 1), allow_empty=True)


class InboxMessageOutput(serializers.ModelSerializer):
    media_url = serializers.SerializerMethodField()

    class Meta:
        model = Message
        fields = [
            "id",
            "conversation_id",
            "direction",
            "kind",
            "body",
            "status",
            "error_code",
            "error_title",
            "error_details",
            "media_url",
            "media_mime",
            "media_filename",
            "provider_message_id",
            "reply_to_id",
            "sent_by_id",
            "created_at",
        ]

    def get_media_url(self, obj) -> str:
        return f"/inbox/c/{obj.conversation_id}/messages/{obj.pk}/media/" if obj.media else ""


class InboxMessageInput(serializers.Serializer):
    type = serializers.ChoiceField(choices=["text", "template", "media"], default="text")
    text = serializers.CharField(required=False, allow_blank=True, default="", trim_whitespace=False)
    template = serializers.CharField(required=False, allow_blank=True)
    language = serializers.CharField(required=False, allow_blank=True, default="pt_BR")
    # Meta's send parameters of the template, filled ("components" of a template message).
    components = serializers.ListField(child=serializers.DictField(), required=False, default=list)
    file = serializers.FileField(required=False)
    caption = serializers.CharField(required=False, allow_blank=True, default="")


class InboxNoteInput(serializers.Serializer):
    body = serializers.CharField(trim_whitespace=False, allow_blank=True)


class InboxAgentOutput(serializers.Serializer):
    user_id = serializers.IntegerField()
    email = serializers.EmailField()
    name = serializers.CharField()
    role = serializers.CharField()
    capacity = serializers.IntegerField()
    is_available = serializers.BooleanField()
    open_conversations = serializers.IntegerField()


class InboxAgentInput(serializers.Serializer):
    capacity = serializers.IntegerField(required=False, min_value=0, max_value=500)
    is_available = serializers.BooleanField(required=False)
