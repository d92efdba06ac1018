"""CRM data of one company (tenant schema): contacts, tags, custom fields, notes, timeline,
lists, segments, imports and the company's CRM settings.

Designed for a million contacts per company:
- tags are an array of tag ids on the contact (GIN index): "any/all/none" filters and bulk
  tagging are single-table set operations, no join through a million-row through table;
- phone search is a prefix scan of the unique ``phone`` index (``text_pattern_ops``);
- name/email search runs on columns PostgreSQL derives itself (generated columns), so every
  write path (ORM, bulk import, SQL upserts) keeps them right: ``search_name`` (lower case,
  accents folded with ``translate``, since the embedded PostgreSQL has no ``unaccent``; the
  name sort) and ``search_vector`` (``simple`` full text over name words and email, for
  word-prefix search).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import F, Func, Q, Value
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

if TYPE_CHECKING:
    from tenants.models import User

# Accented letters folded by ``search_name`` (and by ``crm.text.fold`` for queries).
ACCENTED = "áàâãäåéèêëíìîïóòôõöúùûüçñýÿ"
PLAIN = "aaaaaaeeeeiiiiooooouuuucnyy"


class Translate(Func):
    function = "translate"
    output_field = models.TextField()


class ToTsVector(Func):
    """``to_tsvector('simple', text)``: the two-argument form is immutable (generated column)."""

    function = "to_tsvector"
    template = "%(function)s('simple'::regconfig, %(expressions)s)"
    output_field = models.TextField()


class TsVectorField(models.Field):
    def db_type(self, connection):
        return "tsvector"


@TsVectorField.register_lookup
class PrefixMatches(models.Lookup):
    """``search_vector @@ to_tsquery('simple', 'mar:* & sil:*')`` (GIN index)."""

    lookup_name = "prefix_matches"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        return f"{lhs} @@ to_tsquery('simple'::regconfig, {rhs})", [*lhs_params, *rhs_params]


class ConsentStatus(models.TextChoices):
    UNKNOWN = "unknown", _("Unknown")
    OPTED_IN = "opted_in", _("Opted in")
    OPTED_OUT = "opted_out", _("Opted out")


class ContactSource(models.TextChoices):
    MANUAL = "manual", _("Added by hand")
    IMPORT = "import", _("Import")
    API = "api", _("API")
    WHATSAPP = "whatsapp", _("WhatsApp")
    SMS = "sms", _("SMS")
    DEMO = "demo", _("Demo")


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=64)
    color = models.CharField(_("color"), max_length=16, default="slate")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="crm_tag_name_ci_unique")]

    def __str__(self) -> str:
        return self.name


class Contact(models.Model):
    name = models.CharField(_("name"), max_length=200, blank=True, default="")
    # E.164 ("+5511987654321"), normalized by ``crm.phones.normalize_phone``.
    phone = models.CharField(_("phone"), max_length=20)
    wa_id = models.CharField(_("WhatsApp id"), max_length=32, null=True, blank=True)
    email = models.CharField(_("email"), max_length=254, blank=True, default="")
    tag_ids = ArrayField(models.BigIntegerField(), verbose_name=_("tags"), default=list, blank=True)
    custom_fields = models.JSONField(_("custom fields"), default=dict, blank=True)
    # Users live in the public schema. No database constraint (and DO_NOTHING): deleting a
    # user runs in the public schema, which has no contact table to cascade into.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,  # crm_contact_owner (owner, id) serves it
        related_name="+",
    )
    source = models.CharField(_("source"), max_length=32, default=ContactSource.MANUAL)
    consent_status = models.CharField(
        _("marketing consent"), max_length=12, choices=ConsentStatus.choices, default=ConsentStatus.UNKNOWN
    )
    consent_changed_at = models.DateTimeField(_("consent changed at"), null=True, blank=True)
    consent_source = models.CharField(_("consent source"), max_length=64, blank=True, default="")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)
    last_interaction_at = models.DateTimeField(_("last interaction"), null=True, blank=True)
    # The import that created the contact: its timeline shows "imported from <file>" from this
    # column instead of a million event rows written during the import.
    import_id = models.BigIntegerField(null=True, blank=True, editable=False)

    # Derived by PostgreSQL for search (see module docstring).
    search_name = models.GeneratedField(
        expression=Translate(Lower("name"), Value(ACCENTED), Value(PLAIN)),
        output_field=models.CharField(max_length=200),
        db_persist=True,
    )
    search_vector = models.GeneratedField(
        expression=ToTsVector(
            Func(
                Translate(Lower("name"), Value(ACCENTED), Value(PLAIN)),
                Lower("email"),
                template="(%(expressions)s)",
                arg_joiner=" || ' ' || ",
                output_field=models.TextField(),
            )
        ),
        output_field=TsVectorField(),
        db_persist=True,
    )

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        # Every index costs a million-row import time: each one here serves a search, a sort
        # or a filter of the contact list (newest first sorts by id: the primary key).
        constraints = [
            # text_pattern_ops: the same index answers equality, ON CONFLICT (phone) and the
            # phone-prefix search (LIKE '+5511987%') whatever the database collation. INCLUDE
            # id: a partial-number search reads the matching ids from the index alone (an
            # index-only scan, ~4x faster than visiting each matching row), without a second
            # phone index for every import to maintain.
            models.UniqueConstraint(
                fields=["phone"], name="crm_contact_phone_unique", opclasses=["text_pattern_ops"], include=["id"]
            )
        ]
        indexes = [
            GinIndex(fields=["tag_ids"], name="crm_contact_tags_gin"),
            GinIndex(fields=["search_vector"], name="crm_contact_search_gin"),
            # Partial: an imported contact has no WhatsApp id, owner or interaction yet, so a
            # million-row import does not write these three indexes at all.
            models.Index(fields=["wa_id"], name="crm_contact_wa_id", condition=Q(wa_id__isnull=False)),
            models.Index(fields=["search_name", "id"], name="crm_contact_name"),
            models.Index(
                F("last_interaction_at").desc(),
                F("id").desc(),
                name="crm_contact_last_interaction",
                condition=Q(last_interaction_at__isnull=False),
            ),
            models.Index(fields=["owner", "id"], name="crm_contact_owner", condition=Q(owner__isnull=False)),
        ]

    def __str__(self) -> str:
        return self.name or self.phone

    @property
    def is_opted_out(self) -> bool:
        return self.consent_status == ConsentStatus.OPTED_OUT

    @property
    def tags(self) -> list[Tag]:
        """The contact's tags, by name (one query; use ``selectors.tags_by_id`` for lists)."""
        if not self.tag_ids:
            return []
        return list(Tag.objects.filter(id__in=self.tag_ids).order_by("name"))


class FieldType(models.TextChoices):
    TEXT = "text", _("Text")
    NUMBER = "number", _("Number")
    DATE = "date", _("Date")
    CHOICE = "choice", _("Choice")
    BOOLEAN = "boolean", _("Yes/no")


class CustomFieldDefinition(models.Model):
    key = models.SlugField(_("key"), max_length=48, unique=True)
    label = models.CharField(_("label"), max_length=80)
    field_type = models.CharField(_("type"), max_length=10, choices=FieldType.choices, default=FieldType.TEXT)
    choices = models.JSONField(_("choices"), default=list, blank=True)
    required = models.BooleanField(_("required"), default=False)
    position = models.PositiveIntegerField(_("position"), default=0)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("custom field")
        verbose_name_plural = _("custom fields")
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.label


class Note(models.Model):
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="notes", db_index=False)
    body = models.TextField(_("note"))
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    # Not a field: the contact page sets the author it loaded from the public schema.
    author_user: User | None

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["contact", "-created_at"], name="crm_note_contact")]

    def __str__(self) -> str:
        return self.body[:60]


class TimelineEvent(models.Model):
    """One thing that happened to a contact. Other apps add their own ``kind`` values
    (``message.in``, ``campaign.sent``, ``stage.changed``...) through ``timeline_record``."""

    # No database constraint: imports write a million events at once and the FK trigger
    # would double that time; deletes go through services that remove events first.
    contact = models.ForeignKey(
        Contact, on_delete=models.CASCADE, related_name="timeline", db_index=False, db_constraint=False
    )
    kind = models.CharField(_("kind"), max_length=40)
    data = models.JSONField(default=dict, blank=True)
    # Not indexed: no query looks events up by their actor (a user of the public schema, no
    # database constraint), and every campaign send writes an event without one.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
        db_index=False,
    )
    at = models.DateTimeField(_("when"), default=timezone.now)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["contact", "-at", "-id"], name="crm_timeline_contact")]

    def __str__(self) -> str:
        return f"{self.kind} @ {self.at:%Y-%m-%d %H:%M}"


class ContactList(models.Model):
    name = models.CharField(_("name"), max_length=120)
    description = models.CharField(_("description"), max_length=255, blank=True, default="")
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("list")
        verbose_name_plural = _("lists")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="crm_list_name_ci_unique")]

    def __str__(self) -> str:
        return self.name


class ContactListMember(models.Model):
    contact_list = models.ForeignKey(ContactList, on_delete=models.CASCADE, related_name="members")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="+", db_index=False)
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["contact_list", "contact"], name="crm_list_member_unique")]
        indexes = [models.Index(fields=["contact"], name="crm_list_member_contact")]

    def __str__(self) -> str:
        return f"{self.contact_list_id}:{self.contact_id}"


class Segment(models.Model):
    """A saved filter (see ``crm.segments``), compiled to one SQL query when used."""

    name = models.CharField(_("name"), max_length=120)
    filters = models.JSONField(_("filters"), default=dict)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="crm_segment_name_ci_unique")]

    def __str__(self) -> str:
        return self.name


DEFAULT_OPT_OUT_KEYWORDS = ["SAIR", "PARAR", "STOP", "CANCELAR", "DESCADASTRAR"]


def default_opt_out_keywords() -> list[str]:
    return list(DEFAULT_OPT_OUT_KEYWORDS)


class CrmSettings(models.Model):
    """One row per company (pk 1), created on first read by ``selectors.crm_settings_get``."""

    opt_out_keywords = models.JSONField(_("opt-out keywords"), default=default_opt_out_keywords)
    opt_out_reply = models.TextField(
        _("opt-out reply"),
        blank=True,
        default="Pronto! Você não receberá mais nossas mensagens. Para voltar, responda VOLTAR.",
    )
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("CRM settings")

    def __str__(self) -> str:
        return str(self._meta.verbose_name)


class ImportStatus(models.TextChoices):
    MAPPING = "mapping", _("Waiting for column mapping")
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class ExistingPolicy(models.TextChoices):
    UPDATE = "update", _("Update existing contacts")
    SKIP = "skip", _("Skip existing contacts")


class ContactImport(models.Model):
    original_name = models.CharField(_("file"), max_length=255)
    file = models.FileField(upload_to="crm/imports/", max_length=255)
    file_format = models.CharField(max_length=8, default="csv")
    encoding = models.CharField(max_length=32, blank=True, default="")
    delimiter = models.CharField(max_length=4, blank=True, default="")
    headers = models.JSONField(default=list)
    headers_signature = models.CharField(max_length=64, blank=True, default="", db_index=True)
    preview = models.JSONField(default=list)
    mapping = models.JSONField(default=dict, blank=True)
    tag_ids = ArrayField(models.BigIntegerField(), default=list, blank=True)
    contact_list = models.ForeignKey(ContactList, null=True, blank=True, on_delete=models.SET_NULL)
    existing = models.CharField(max_length=8, choices=ExistingPolicy.choices, default=ExistingPolicy.UPDATE)
    status = models.CharField(max_length=10, choices=ImportStatus.choices, default=ImportStatus.MAPPING)
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(default=0)
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    failed_count = models.PositiveIntegerField(default=0)
    failed_file = models.FileField(upload_to="crm/imports/failed/", max_length=255, blank=True)
    error = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.original_name

    @property
    def pk_str(self) -> str:
        return str(self.pk)

    @property
    def encoding_label(self) -> str:
        return {
            "utf-8": "UTF-8",
            "utf-8-sig": "UTF-8 (BOM)",
            "cp1252": "Windows-1252 (Latin-1)",
            "latin-1": "Latin-1 (ISO-8859-1)",
            "utf-16": "UTF-16",
            "utf-16-le": "UTF-16 (little-endian, no BOM)",
            "utf-16-be": "UTF-16 (big-endian, no BOM)",
        }.get(self.encoding, self.encoding)

    @property
    def progress_percent(self) -> int:
        if self.status == ImportStatus.DONE:
            return 100
        if not self.total_rows:
            return 0
        return min(100, int(self.processed_rows * 100 / self.total_rows))


class BulkAction(models.TextChoices):
    TAG = "tag", _("Add tag")
    UNTAG = "untag", _("Remove tag")
    ADD_TO_LIST = "add_to_list", _("Add to list")
    ASSIGN_OWNER = "assign_owner", _("Assign owner")
    OPT_OUT = "opt_out", _("Opt out")
    DELETE = "delete", _("Delete")


class BulkOperation(models.Model):
    """A bulk action over many contacts, kept for a while so it can be undone."""

    action = models.CharField(max_length=16, choices=BulkAction.choices)
    params = models.JSONField(default=dict)
    contact_ids = ArrayField(models.BigIntegerField(), default=list)
    # contact id -> values before the action, for actions that overwrite (owner, consent).
    previous = models.JSONField(default=dict)
    affected = models.PositiveIntegerField(default=0)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    undone_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.action} ({self.affected})"


class DeletedContact(models.Model):
    """A deleted contact with its notes, timeline and list memberships (until the undo window
    of its bulk operation ends)."""

    operation = models.ForeignKey(BulkOperation, on_delete=models.CASCADE, related_name="deleted")
    row = models.JSONField()
    related = models.JSONField(default=dict)

    def __str__(self) -> str:
        return str(self.row.get("phone", ""))
