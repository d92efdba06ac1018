"""Public-schema models: companies (tenants), their domains, users, memberships, invitations,
API keys, the webhook routing table and the support audit log."""

from __future__ import annotations

import hashlib
import secrets
import uuid
import zoneinfo
from typing import ClassVar

from django.conf import settings
from django.contrib.auth.base_user import BaseUserManager
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_tenants.models import DomainMixin, TenantMixin

from tenants.roles import Role

TIME_ZONE_CHOICES = [(tz, tz) for tz in sorted(zoneinfo.available_timezones()) if "/" in tz]


class Plan(models.Model):
    """What a company may use: members, channels, contacts, and per calendar month (in the
    company's time zone) messages sent and AI tokens. An empty limit is no limit. Staff may
    override any limit for one company (``Company.limit_*``); ``tenants.limits`` enforces them."""

    code = models.SlugField(_("code"), max_length=20, primary_key=True)
    name = models.CharField(_("name"), max_length=80)
    max_members = models.PositiveIntegerField(_("members"), null=True, blank=True)
    max_channels = models.PositiveIntegerField(_("channels"), null=True, blank=True)
    max_contacts = models.PositiveIntegerField(_("contacts"), null=True, blank=True)
    max_messages_month = models.PositiveIntegerField(_("messages per month"), null=True, blank=True)
    max_ai_tokens_month = models.PositiveBigIntegerField(_("AI tokens per month"), null=True, blank=True)
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("plan")
        verbose_name_plural = _("plans")
        ordering = ["position", "code"]

    def __str__(self) -> str:
        return self.name


# The plan of a company created without one (sign-up), and of the demo company.
DEFAULT_PLAN = "free"
DEMO_PLAN = "demo"


class Locale(models.TextChoices):
    PT_BR = "pt-br", _("Portuguese (Brazil)")
    EN = "en", _("English")


class Company(TenantMixin):
    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField(_("slug"), max_length=48, unique=True)
    # The column keeps its name and its values (the plan's code), now checked by a foreign key.
    plan = models.ForeignKey(
        Plan,
        verbose_name=_("plan"),
        on_delete=models.PROTECT,
        db_column="plan",
        default=DEFAULT_PLAN,
        related_name="+",
    )
    # Per-company overrides set by staff; empty: the plan's limit.
    limit_members = models.PositiveIntegerField(_("members limit"), null=True, blank=True)
    limit_channels = models.PositiveIntegerField(_("channels limit"), null=True, blank=True)
    limit_contacts = models.PositiveIntegerField(_("contacts limit"), null=True, blank=True)
    limit_messages_month = models.PositiveIntegerField(_("messages per month limit"), null=True, blank=True)
    limit_ai_tokens_month = models.PositiveBigIntegerField(_("AI tokens per month limit"), null=True, blank=True)
    # An owner may require two-factor authentication of every member.
    require_mfa = models.BooleanField(_("require two-factor authentication"), default=False)
    suspended_at = models.DateTimeField(_("suspended at"), null=True, blank=True)
    suspension_reason = models.CharField(_("suspension reason"), max_length=500, blank=True, default="")
    time_zone = models.CharField(_("time zone"), max_length=64, choices=TIME_ZONE_CHOICES, default="America/Sao_Paulo")
    locale = models.CharField(_("language"), max_length=8, choices=Locale.choices, default=Locale.PT_BR)
    default_country = models.CharField(_("default country"), max_length=2, default="BR")
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    auto_create_schema = True
    auto_drop_schema = False

    def create_schema(self, check_if_exists: bool = False, sync_schema: bool = True, verbosity: int = 1) -> bool:
        """Make the company's schema from the migrated template (``tenants.schemas``), in the
        caller's transaction, instead of django-tenants' migrating or cloning."""
        from django_tenants.postgresql_backend.base import _check_schema_name
        from django_tenants.utils import schema_exists

        from tenants.schemas import schema_create

        _check_schema_name(self.schema_name)
        if check_if_exists and schema_exists(self.schema_name):
            return False
        schema_create(self.schema_name)
        return True

    class Meta:
        verbose_name = _("company")
        verbose_name_plural = _("companies")
        ordering = ["name"]
        # Staff need this (or superuser) to open a company's workspace from the admin.
        permissions = [("open_workspace", _("Can open a company's workspace for support"))]

    def __str__(self) -> str:
        return self.name

    @property
    def is_public(self) -> bool:
        return self.schema_name == "public"


class Domain(DomainMixin):
    class Meta:
        verbose_name = _("domain")
        verbose_name_plural = _("domains")


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra):
        if not email:
            raise ValueError("email is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra):
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra)


class User(AbstractUser):
    """A person; logs in with an email address and may belong to several companies."""

    username = None  # type: ignore[assignment]
    email = models.EmailField(_("email address"), unique=True)
    full_name = models.CharField(_("full name"), max_length=150, blank=True)
    language = models.CharField(_("language"), max_length=8, choices=Locale.choices, blank=True)
    # Part of every API token's stamp (``tenants.api.tokens``): raising it revokes them all.
    token_version = models.PositiveIntegerField(default=0, editable=False)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []
    objects = UserManager()  # type: ignore[misc,assignment]

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.email

    @property
    def display_name(self) -> str:
        return self.full_name or self.get_full_name() or self.email.split("@")[0]


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=10, choices=Role.choices, default=Role.AGENT)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [models.UniqueConstraint(fields=["user", "company"], name="membership_unique")]
        indexes = [models.Index(fields=["company", "role"])]

    def __str__(self) -> str:
        return f"{self.user} @ {self.company} ({self.role})"


def _invitation_token() -> str:
    return secrets.token_urlsafe(32)


class Invitation(models.Model):
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(_("email"))
    role = models.CharField(_("role"), max_length=10, choices=Role.choices, default=Role.AGENT)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        indexes = [models.Index(fields=["company", "email"])]

    def __str__(self) -> str:
        return f"{self.email} → {self.company}"

    @staticmethod
    def hash_token(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > timezone.now()


class ApiKey(models.Model):
    """An integration key of one company. Only a hash is stored; the key is shown once."""

    # 48 random bits of lookup prefix (unique): collisions are rare and retried on creation.
    PREFIX_LENGTH = 12

    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(_("name"), max_length=80)
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    role = models.CharField(_("role"), max_length=10, choices=Role.choices, default=Role.ADMIN)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @staticmethod
    def generate() -> tuple[str, str, str]:
        """Return ``(full_key, prefix, hash)``; the full key is ``mia_<prefix>_<secret>``."""
        prefix = secrets.token_hex(ApiKey.PREFIX_LENGTH // 2)
        secret = secrets.token_urlsafe(32)
        full = f"mia_{prefix}_{secret}"
        return full, prefix, ApiKey.hash_key(full)

    @staticmethod
    def hash_key(full_key: str) -> str:
        return hashlib.sha256(full_key.encode()).hexdigest()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class WebhookRoute(models.Model):
    """Maps a provider's identifier (e.g. a Meta phone_number_id) to the owning company, so a
    webhook that arrives on the public domain is processed in the right schema."""

    provider = models.CharField(max_length=32)
    external_id = models.CharField(max_length=128)
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="webhook_routes")
    channel_public_id = models.UUIDField(default=uuid.uuid4, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    # When the provider confirmed the identifier belongs to the company (for a Meta number: the
    # channel's own token can read it). Only confirmed routes are unique: an unconfirmed one
    # (anyone can type another business's phone_number_id) blocks nobody.
    verified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "external_id"],
                condition=models.Q(verified_at__isnull=False),
                name="webhook_route_verified_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider}:{self.external_id} → {self.company_id}"


class SupportAccess(models.Model):
    """Audit log: a staff member opened a company's workspace, when and why."""

    staff = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="support_accesses")
    company = models.ForeignKey(Company, on_delete=models.CASCADE, related_name="support_accesses")
    reason = models.TextField(_("reason"))
    created_at = models.DateTimeField(_("when"), default=timezone.now)
    expires_at = models.DateTimeField()
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        verbose_name = _("support access")
        verbose_name_plural = _("support accesses")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.staff} → {self.company} at {self.created_at:%Y-%m-%d %H:%M}"


class SupportAction(models.Model):
    """Audit log: one change (an unsafe request) made inside a support access."""

    access = models.ForeignKey(SupportAccess, on_delete=models.CASCADE, related_name="actions")
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    status = models.PositiveSmallIntegerField()
    created_at = models.DateTimeField(_("when"), default=timezone.now)

    class Meta:
        verbose_name = _("support action")
        verbose_name_plural = _("support actions")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.method} {self.path} → {self.status}"
