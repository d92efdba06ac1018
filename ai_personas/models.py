"""AI personas: the provider a company uses, its knowledge, its personas and what they did.

Everything lives in the company's schema. Rows that point at inbox data (conversations,
messages) are tables of this app keyed by the inbox row, so the inbox needs no field of ours.

Embeddings: one ``vector`` column without a fixed dimension plus ``dims``. HNSW needs one
dimension per index, so there is one partial expression index per supported dimension
(``(embedding::vector(N)) ... WHERE dims = N``, migration 0002); a knowledge base records the
model and dimension it was indexed with, and a change of embedding model re-indexes it.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from pgvector.django import VectorField

from tenants.fields import EncryptedTextField
from tenants.models import Company

# Dimensions with an HNSW index (migration 0002). The local embedder gives 256; OpenAI's
# text-embedding-3-* give 1536/3072 and accept a ``dimensions`` request (1536 is asked for
# models above the largest indexed size).
INDEXED_DIMS = (256, 384, 512, 768, 1024, 1536)
LOCAL_MODEL = "local"
# HNSW build parameters: pgvector's default ef_construction (64) gave 0.92 recall@10 at
# ef_search 80 on the benchmark's 100,000 chunks, 128 gives 0.97 at ef_search 160 (README).
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 128


def hnsw_index_sql(dims: int) -> str:
    """The partial HNSW index of one embedding size (migration 0002, the benchmark's reload)."""
    return (
        f"CREATE INDEX IF NOT EXISTS ai_chunk_emb_{dims} ON ai_personas_chunk "
        f"USING hnsw ((embedding::vector({dims})) vector_cosine_ops) "
        f"WITH (m = {HNSW_M}, ef_construction = {HNSW_EF_CONSTRUCTION}) WHERE dims = {dims}"
    )


def _user_fk(related_name: str, verbose_name):
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=verbose_name,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name=related_name,
    )


class ProviderSettings(models.Model):
    """The company's OpenAI-compatible endpoint (one row; blank fields use the installation's)."""

    base_url = models.URLField(_("base URL"), max_length=300, blank=True)
    api_key = EncryptedTextField(_("API key"))
    chat_model = models.CharField(_("chat model"), max_length=100, blank=True)
    embedding_model = models.CharField(_("embedding model"), max_length=100, blank=True)
    monthly_token_budget = models.PositiveBigIntegerField(_("monthly token budget"), null=True, blank=True)
    last_test_at = models.DateTimeField(_("last tested at"), null=True, blank=True)
    last_test_ok = models.BooleanField(_("last test succeeded"), null=True, blank=True)
    last_test_detail = models.CharField(_("last test result"), max_length=500, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("AI provider settings")
        verbose_name_plural = _("AI provider settings")

    def __str__(self) -> str:
        return self.base_url or "default"


class Language(models.TextChoices):
    """Full-text configurations built into PostgreSQL (no contrib extension needed)."""

    PORTUGUESE = "portuguese", _("Portuguese")
    ENGLISH = "english", _("English")


class KnowledgeBase(models.Model):
    name = models.CharField(_("name"), max_length=100)
    description = models.CharField(_("description"), max_length=300, blank=True)
    language = models.CharField(_("language"), max_length=20, choices=Language.choices, default=Language.PORTUGUESE)
    # Cosine similarity below which a chunk found only by the vector search is not used.
    min_score = models.FloatField(_("minimum similarity"), default=0.35)
    embedding_model = models.CharField(_("embedding model"), max_length=100, blank=True)
    embedding_dims = models.PositiveSmallIntegerField(_("embedding dimensions"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("knowledge base")
        verbose_name_plural = _("knowledge bases")
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class DocumentKind(models.TextChoices):
    PDF = "pdf", "PDF"
    DOCX = "docx", "DOCX"
    TXT = "txt", _("Text")
    MARKDOWN = "md", "Markdown"
    CSV = "csv", "CSV"
    HTML = "html", "HTML"
    QA = "qa", _("Question and answer")


class DocumentStatus(models.TextChoices):
    PENDING = "pending", _("Waiting")
    INDEXING = "indexing", _("Indexing")
    READY = "ready", _("Ready")
    FAILED = "failed", _("Failed")


def document_path(instance: Document, filename: str) -> str:
    from core.tenancy import current_schema

    return f"ai/{current_schema()}/{timezone.now():%Y/%m}/{filename}"


class Document(models.Model):
    knowledge_base = models.ForeignKey(
        KnowledgeBase, verbose_name=_("knowledge base"), on_delete=models.CASCADE, related_name="documents"
    )
    title = models.CharField(_("title"), max_length=200)
    kind = models.CharField(_("kind"), max_length=10, choices=DocumentKind.choices)
    file = models.FileField(_("file"), upload_to=document_path, max_length=300, blank=True)
    # The extracted text (for Q&A entries: the answer; the question is ``question``).
    text = models.TextField(_("text"), blank=True)
    question = models.TextField(_("question"), blank=True)
    content_hash = models.CharField(_("content hash"), max_length=64, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=DocumentStatus.choices, default=DocumentStatus.PENDING
    )
    error = models.CharField(_("error"), max_length=500, blank=True)
    chunks_total = models.PositiveIntegerField(_("chunks"), default=0)
    chunks_done = models.PositiveIntegerField(_("chunks indexed"), default=0)
    indexed_at = models.DateTimeField(_("indexed at"), null=True, blank=True)
    created_by = _user_fk("+", _("created by"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("document")
        verbose_name_plural = _("documents")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.title

    @property
    def pk_str(self) -> str:
        return str(self.pk)

    @property
    def progress(self) -> int:
        if self.status == DocumentStatus.READY:
            return 100
        return int(100 * self.chunks_done / self.chunks_total) if self.chunks_total else 0


class Chunk(models.Model):
    """A piece of a document with its embedding and its full-text vector.

    ``search`` is written by the indexer (``to_tsvector(<knowledge base language>, ...)``) and
    has a GIN index; the embedding has one HNSW index per dimension (see the module docstring).
    """

    document = models.ForeignKey(Document, verbose_name=_("document"), on_delete=models.CASCADE, related_name="chunks")
    knowledge_base = models.ForeignKey(
        KnowledgeBase, verbose_name=_("knowledge base"), on_delete=models.CASCADE, related_name="+", db_index=False
    )
    position = models.PositiveIntegerField(_("position"))
    heading = models.CharField(_("heading"), max_length=300, blank=True)
    text = models.TextField(_("text"))
    dims = models.PositiveSmallIntegerField(_("dimensions"), null=True)
    embedding = VectorField(_("embedding"), null=True)
    search = SearchVectorField(_("search vector"), null=True)

    class Meta:
        verbose_name = _("chunk")
        verbose_name_plural = _("chunks")
        ordering = ["document_id", "position"]
        indexes = [
            models.Index(fields=["knowledge_base", "document", "position"], name="ai_chunk_kb_doc"),
            GinIndex(fields=["search"], name="ai_chunk_search"),
        ]

    def __str__(self) -> str:
        return f"{self.document_id}#{self.position}"


class Schedule(models.TextChoices):
    ALWAYS = "always", _("Always")
    OUTSIDE_HOURS = "outside_hours", _("Outside business hours")
    NO_AGENT = "no_agent", _("When no agent is available")
    KEYWORD = "keyword", _("When the customer writes a keyword")


DEFAULT_HANDOFF_KEYWORDS = [
    "atendente",
    "humano",
    "falar com alguém",
    "falar com alguem",
    "pessoa de verdade",
    "gerente",
    "human",
    "agent",
]


class Persona(models.Model):
    name = models.CharField(_("name"), max_length=80)
    avatar = models.CharField(_("avatar"), max_length=8, blank=True, help_text=_("An emoji or up to two letters."))
    instructions = models.TextField(_("instructions"), blank=True)
    language = models.CharField(_("language"), max_length=10, default="pt-br")
    model = models.CharField(_("chat model"), max_length=100, blank=True)
    temperature = models.FloatField(_("temperature"), default=0.3)
    max_reply_chars = models.PositiveIntegerField(_("maximum reply length"), default=600)
    knowledge_bases = models.ManyToManyField(
        KnowledgeBase, verbose_name=_("knowledge bases"), blank=True, related_name="personas"
    )
    # Channels it answers on (none: every channel).
    channels = models.ManyToManyField("inbox.Channel", verbose_name=_("channels"), blank=True, related_name="+")
    schedule = models.CharField(_("when it answers"), max_length=20, choices=Schedule.choices, default=Schedule.ALWAYS)
    # {"days": [0..6] (Monday = 0), "start": "HH:MM", "end": "HH:MM"} in the company's time zone.
    business_hours = models.JSONField(_("business hours"), default=dict, blank=True)
    trigger_keywords = models.JSONField(_("trigger keywords"), default=list, blank=True)
    handoff_keywords = models.JSONField(_("handoff keywords"), default=list, blank=True)
    max_turns = models.PositiveSmallIntegerField(_("replies before handing off"), default=8)
    handoff_on_negative = models.BooleanField(_("hand off on a negative tone"), default=True)
    tools = models.JSONField(_("tools"), default=list, blank=True)
    debounce_seconds = models.PositiveSmallIntegerField(_("wait for more messages (seconds)"), default=6)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("persona")
        verbose_name_plural = _("personas")
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def initials(self) -> str:
        return self.avatar or "".join(w[0] for w in self.name.split()[:2]).upper()


class AIState(models.TextChoices):
    ACTIVE = "active", _("AI answering")
    HANDED_OFF = "handed_off", _("With a person")
    OFF = "off", _("AI turned off")


class ConversationAI(models.Model):
    """The AI side of one inbox conversation: on or off, who answers, the pending reply."""

    conversation = models.OneToOneField(
        "inbox.Conversation", verbose_name=_("conversation"), on_delete=models.CASCADE, related_name="+"
    )
    persona = models.ForeignKey(
        Persona, verbose_name=_("persona"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    state = models.CharField(_("state"), max_length=12, choices=AIState.choices, default=AIState.ACTIVE)
    handoff_reason = models.CharField(_("handoff reason"), max_length=30, blank=True)
    handed_off_at = models.DateTimeField(_("handed off at"), null=True, blank=True)
    turns = models.PositiveSmallIntegerField(_("AI replies"), default=0)
    # Debounce: the reply is due at ``due_at`` for the customer messages up to ``last_inbound_id``.
    due_at = models.DateTimeField(_("reply due at"), null=True, blank=True)
    last_inbound_id = models.BigIntegerField(_("last customer message"), null=True, blank=True)
    answered_inbound_id = models.BigIntegerField(_("last message answered"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("conversation AI state")
        verbose_name_plural = _("conversation AI states")
        indexes = [
            models.Index(fields=["due_at"], name="ai_conv_due", condition=models.Q(due_at__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"conversation {self.conversation_id}: {self.state}"


class ReplyPart(models.Model):
    """One message of a reply, sent at ``send_at`` (human-like pacing) through the inbox."""

    conversation_ai = models.ForeignKey(
        ConversationAI, verbose_name=_("conversation"), on_delete=models.CASCADE, related_name="parts"
    )
    persona = models.ForeignKey(Persona, verbose_name=_("persona"), null=True, on_delete=models.SET_NULL)
    position = models.PositiveSmallIntegerField(_("position"))
    text = models.TextField(_("text"))
    send_at = models.DateTimeField(_("send at"))
    message_id = models.BigIntegerField(_("message"), null=True, blank=True)
    cancelled = models.BooleanField(_("cancelled"), default=False)
    citations = models.JSONField(_("citations"), default=list, blank=True)
    cost = models.DecimalField(_("cost (USD)"), max_digits=12, decimal_places=6, default=0)
    tokens_in = models.PositiveIntegerField(_("tokens in"), default=0)
    tokens_out = models.PositiveIntegerField(_("tokens out"), default=0)

    class Meta:
        verbose_name = _("reply part")
        verbose_name_plural = _("reply parts")
        ordering = ["send_at", "position"]

    def __str__(self) -> str:
        return f"part {self.position} of {self.conversation_ai_id}"


class AIMessage(models.Model):
    """Marks an inbox message as written by a persona, with its citations and cost."""

    message = models.OneToOneField(
        "inbox.Message", verbose_name=_("message"), on_delete=models.CASCADE, related_name="+"
    )
    persona = models.ForeignKey(Persona, verbose_name=_("persona"), null=True, on_delete=models.SET_NULL)
    citations = models.JSONField(_("citations"), default=list, blank=True)
    tokens_in = models.PositiveIntegerField(_("tokens in"), default=0)
    tokens_out = models.PositiveIntegerField(_("tokens out"), default=0)
    cost = models.DecimalField(_("cost (USD)"), max_digits=12, decimal_places=6, default=0)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("AI message")
        verbose_name_plural = _("AI messages")

    def __str__(self) -> str:
        return f"AI message {self.message_id}"


class UsageDay(models.Model):
    """Tokens, cost, replies and handoffs per persona per day (``persona`` null: calls that
    belong to no persona, such as embeddings and connection tests)."""

    day = models.DateField(_("day"))
    persona = models.ForeignKey(Persona, verbose_name=_("persona"), null=True, on_delete=models.SET_NULL)
    tokens_in = models.PositiveBigIntegerField(_("tokens in"), default=0)
    tokens_out = models.PositiveBigIntegerField(_("tokens out"), default=0)
    cost = models.DecimalField(_("cost (USD)"), max_digits=14, decimal_places=6, default=0)
    replies = models.PositiveIntegerField(_("replies"), default=0)
    handoffs = models.PositiveIntegerField(_("handoffs"), default=0)

    class Meta:
        verbose_name = _("usage per day")
        verbose_name_plural = _("usage per day")
        ordering = ["-day"]
        constraints = [
            models.UniqueConstraint(fields=["day", "persona"], name="ai_usage_day_persona", nulls_distinct=False),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.persona_id}"


class CompanyAI(Company):
    """Companies as the support admin's AI overview lists them (no table of its own)."""

    class Meta:
        proxy = True
        verbose_name = _("company AI")
        verbose_name_plural = _("companies' AI")
