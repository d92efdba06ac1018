"""Input and output serializers of the AI personas API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from ai_personas.models import Document, KnowledgeBase, Language, Persona, Schedule


class AIPersonaOutput(serializers.ModelSerializer):
    knowledge_bases: Any = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    channels: Any = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = Persona
        fields = [
            "id", "name", "avatar", "instructions", "language", "model", "temperature", "max_reply_chars",
            "knowledge_bases", "channels", "schedule", "business_hours", "trigger_keywords", "handoff_keywords",
            "max_turns", "handoff_on_negative", "tools", "debounce_seconds", "is_active", "created_at", "updated_at",
        ]  # fmt: skip


class AIPersonaInput(serializers.Serializer):
    name = serializers.CharField(max_length=80, required=False)
    avatar = serializers.CharField(max_length=8, required=False, allow_blank=True)
    instructions = serializers.CharField(required=False, allow_blank=True)
    language = serializers.CharField(max_length=10, required=False)
    model = serializers.CharField(max_length=100, required=False, allow_blank=True)
    temperature = serializers.FloatField(required=False)
    max_reply_chars = serializers.IntegerField(required=False)
    knowledge_bases = serializers.ListField(child=serializers.IntegerField(), required=False)
    channels = serializers.ListField(child=serializers.IntegerField(), required=False)
    schedule = serializers.ChoiceField(choices=Schedule.choices, required=False)
    business_hours = serializers.JSONField(required=False)
    trigger_keywords = serializers.ListField(child=serializers.CharField(), required=False)
    handoff_keywords = serializers.ListField(child=serializers.CharField(), required=False)
    max_turns = serializers.IntegerField(required=False)
    handoff_on_negative = serializers.BooleanField(required=False)
    tools = serializers.ListField(child=serializers.CharField(), required=False)
    debounce_seconds = serializers.IntegerField(required=False)
    is_active = serializers.BooleanField(required=False)


class AIKnowledgeBaseOutput(serializers.ModelSerializer):
    class Meta:
        model = KnowledgeBase
        fields = [
            "id",
            "name",
            "description",
            "language",
            "min_score",
            "embedding_model",
            "embedding_dims",
            "created_at",
            "updated_at",
        ]


class AIKnowledgeBaseInput(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    description = serializers.CharField(max_length=300, required=False, allow_blank=True, default="")
    language = serializers.ChoiceField(choices=Language.choices, default=Language.PORTUGUESE)
    min_score = serializers.FloatField(default=0.35)


class AIDocumentOutput(serializers.ModelSerializer):
    progress = serializers.IntegerField(read_only=True)

    class Meta:
        model = Document
        fields = [
            "id", "knowledge_base", "title", "kind", "question", "status", "error", "chunks_total", "chunks_done",
            "progress", "indexed_at", "created_at", "updated_at",
        ]  # fmt: skip


class AIDocumentInput(serializers.Serializer):
    """A file (multipart ``file``), or a question-and-answer entry (``question`` + ``answer``)."""

    file = serializers.FileField(required=False)
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    question = serializers.CharField(required=False, allow_blank=True)
    answer = serializers.CharField(required=False, allow_blank=True)


class AIDocumentUpdateInput(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False)
    text = serializers.CharField(required=False)
    question = serializers.CharField(required=False)


class AIPlaygroundTurn(serializers.Serializer):
    role = serializers.ChoiceField(choices=["customer", "assistant"])
    text = serializers.CharField(max_length=4000)


class AIPlaygroundInput(serializers.Serializer):
    messages = serializers.ListField(child=AIPlaygroundTurn(), min_length=1, max_length=40)


class AIChunkOutput(serializers.Serializer):
    chunk = serializers.IntegerField()
    document = serializers.IntegerField()
    title = serializers.CharField()
    heading = serializers.CharField()
    position = serializers.IntegerField()
    score = serializers.FloatField()
    similarity = serializers.FloatField(allow_null=True)
    text = serializers.CharField()


class AIPlaygroundOutput(serializers.Serializer):
    reply = serializers.CharField()
    parts = serializers.ListField(child=serializers.CharField())
    delays = serializers.ListField(child=serializers.FloatField())
    chunks = AIChunkOutput(many=True)
    handoff = serializers.DictField(allow_null=True)
    prompt_chars = serializers.IntegerField()
    tokens_in = serializers.IntegerField()
    tokens_out = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=12, decimal_places=6)
    model_ms = serializers.FloatField()
    overhead_ms = serializers.FloatField()
    error = serializers.CharField(allow_blank=True)


class AIUsageOutput(serializers.Serializer):
    day = serializers.DateField()
    persona = serializers.IntegerField(allow_null=True)
    persona_name = serializers.CharField(allow_blank=True)
    tokens_in = serializers.IntegerField()
    tokens_out = serializers.IntegerField()
    cost = serializers.DecimalField(max_digits=14, decimal_places=6)
    replies = serializers.IntegerField()
    handoffs = serializers.IntegerField()
