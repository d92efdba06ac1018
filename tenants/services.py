"""Writes on companies, users, memberships, invitations, API keys and support access."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import connection, transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django_tenants.utils import get_public_schema_name, schema_context

from core.realtime import membership_changed_on_commit
from tenants import limits, schemas
from tenants.context import use_public_schema
from tenants.models import ApiKey, Company, Domain, Invitation, Membership, SupportAccess, User
from tenants.roles import Role, assignable_roles, role_at_least

RESERVED_SLUGS = {
    "www",
    "admin",
    "api",
    "app",
    "static",
    "media",
    "public",
    "mail",
    "smtp",
    "ftp",
    "localhost",
    "support",
    "help",
    "status",
    "webhooks",
    "ws",
    "tenant-template",
    "demo-template",
}
SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,46}[a-z0-9])?$")

ERR_SLUG_TAKEN = gettext_noop("This address is already taken.")
ERR_SLUG_INVALID = gettext_noop("Use 1 to 48 lowercase letters, digits and hyphens, not at the start or end.")
ERR_SLUG_RESERVED = gettext_noop("This address is reserved.")
ERR_ALREADY_MEMBER = gettext_noop("This person is already a member of the company.")
ERR_INVITATION_INVALID = gettext_noop("This invitation is invalid or has expired.")
ERR_INVITATION_EMAIL = gettext_noop("This invitation was sent to another email address.")
ERR_ROLE_NOT_ALLOWED = gettext_noop("You cannot give this role.")
ERR_LAST_OWNER = gettext_noop("A company needs at least one owner.")
ERR_EMAIL_NOT_VERIFIED = gettext_noop("Confirm your email address first: we sent you a link.")


def schema_name_for(slug: str) -> str:
    return "c_" + slug.replace("-", "_")


def domain_for(slug: str) -> str:
    return f"{slug}.{settings.BASE_DOMAIN}"


def suggest_slug(name: str) -> str:
    base = slugify(name)[:40].strip("-") or "company"
    if base in RESERVED_SLUGS:
        base = f"{base}-co"
    slug, n = base, 1
    while Company.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


def validate_slug(slug: str) -> None:
    if not SLUG_RE.match(slug):
        raise ValidationError(_(ERR_SLUG_INVALID), code="invalid")
    if slug in RESERVED_SLUGS:
        raise ValidationError(_(ERR_SLUG_RESERVED), code="reserved")
    if Company.objects.filter(slug=slug).exists():
        raise ValidationError(_(ERR_SLUG_TAKEN), code="taken")


def company_create(
    *,
    name: str,
    owner: User | None,
    slug: str | None = None,
    time_zone: str = "America/Sao_Paulo",
    locale: str = "pt-br",
    plan: str = "free",
) -> Company:
    """Create a company, its schema, its domain and owner, in one transaction: the schema is
    the migrated template's SQL replayed in one round trip (``tenants.schemas``), so nothing of
    a failed creation remains."""
    slug = slug or suggest_slug(name)
    validate_slug(slug)
    schemas.template_ready_or_ensure()
    with transaction.atomic():
        company = Company(
            name=name,
            slug=slug,
            schema_name=schema_name_for(slug),
            time_zone=time_zone,
            locale=locale,
            plan_id=plan,
        )
        company.save(verbosity=0)
        Domain.objects.create(domain=domain_for(slug), tenant=company, is_primary=True)
        if owner is not None:
            Membership.objects.create(user=owner, company=company, role=Role.OWNER)
    use_public_schema()
    return company


def missing_schemas_repair() -> list[str]:
    """Give every company whose schema is missing its schema back (the template's, which the
    tenant migrations then bring up to date); returns their schema names. Companies created
    before creation became one transaction committed the row before the schema was made, so a
    process killed in between left such a row, and migrating every company (``bootstrap``)
    would fail on it at each deploy."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT schema_name FROM tenants_company c WHERE schema_name <> %s"
            " AND NOT EXISTS (SELECT 1 FROM pg_namespace n WHERE n.nspname = c.schema_name)",
            [get_public_schema_name()],
        )
        missing = [row[0] for row in cursor.fetchall()]
    if missing:
        schemas.template_ready_or_ensure()
    for schema in missing:
        schemas.schema_create(schema)
    return missing


def ensure_template_schema() -> None:
    """Create and migrate the template schema new companies are made from (``tenants.schemas``)."""
    schemas.template_ensure()


@transaction.atomic
def membership_set_role(*, membership: Membership, role: str, by: Membership) -> Membership:
    if role not in assignable_roles(by.role) or (membership.role == Role.OWNER and by.role != Role.OWNER):
        raise ValidationError(_(ERR_ROLE_NOT_ALLOWED), code="role")
    if membership.role == Role.OWNER and role != Role.OWNER:
        _ensure_other_owner(membership)
    membership.role = role
    membership.save(update_fields=["role"])
    membership_changed_on_commit(membership.company.schema_name, membership.user_id, removed=False)
    return membership


def _ensure_other_owner(membership: Membership) -> None:
    # Lock the company's owner rows so two concurrent demotions cannot both pass the check.
    owners = list(
        Membership.objects.select_for_update()
        .filter(company_id=membership.company_id, role=Role.OWNER)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if owners == [membership.pk]:
        raise ValidationError(_(ERR_LAST_OWNER), code="last_owner")


@transaction.atomic
def membership_remove(*, membership: Membership, by: Membership) -> None:
    if membership.role == Role.OWNER and by.role != Role.OWNER:
        raise ValidationError(_(ERR_ROLE_NOT_ALLOWED), code="role")
    if not role_at_least(by.role, Role.ADMIN) and membership.user_id != by.user_id:
        raise ValidationError(_(ERR_ROLE_NOT_ALLOWED), code="role")
    if membership.role == Role.OWNER:
        _ensure_other_owner(membership)
    membership.delete()
    membership_changed_on_commit(membership.company.schema_name, membership.user_id, removed=True)
    # A token of someone who just left is not kept alive for their other companies either.
    user_tokens_revoke(user=membership.user)


@transaction.atomic
def user_tokens_revoke(*, user: User) -> None:
    """Revoke every API token (JWT) of the person: raising the token version changes the stamp
    each token carries (``tenants.api.tokens``); the outstanding refresh tokens are also
    blacklisted, so the admin shows them as such."""
    from django.db.models import F
    from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

    User.objects.filter(pk=user.pk).update(token_version=F("token_version") + 1)
    user.refresh_from_db(fields=["token_version"])
    live = OutstandingToken.objects.filter(user=user, expires_at__gt=timezone.now(), blacklistedtoken__isnull=True)
    BlacklistedToken.objects.bulk_create([BlacklistedToken(token=token) for token in live], ignore_conflicts=True)


def tokens_flush_expired() -> int:
    """Drop the records of refresh tokens that expired (they are refused by their expiry)."""
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

    _total, per_model = OutstandingToken.objects.filter(expires_at__lte=timezone.now()).delete()
    return per_model.get(OutstandingToken._meta.label, 0)


@transaction.atomic
def user_deactivate(*, user: User) -> User:
    """Nobody logs in as this person any more; their tokens stay dead if they come back."""
    user.is_active = False
    user.save(update_fields=["is_active"])
    user_tokens_revoke(user=user)
    return user


def workspace_url(company: Company, path: str = "/") -> str:
    port = f":{settings.SITE_PORT}" if settings.SITE_PORT not in {"", "80", "443"} else ""
    return f"{settings.SITE_SCHEME}://{domain_for(company.slug)}{port}{path}"


def public_url(path: str = "/") -> str:
    port = f":{settings.SITE_PORT}" if settings.SITE_PORT not in {"", "80", "443"} else ""
    return f"{settings.SITE_SCHEME}://{settings.BASE_DOMAIN}{port}{path}"


def invitation_create(*, company: Company, email: str, role: str, by: Membership) -> tuple[Invitation, str]:
    """Create (or renew) an invitation and email its link. Returns the row and the raw token."""
    import secrets

    email = email.strip().lower()
    if role not in assignable_roles(by.role):
        raise ValidationError(_(ERR_ROLE_NOT_ALLOWED), code="role")
    if Membership.objects.filter(company=company, user__email__iexact=email).exists():
        raise ValidationError(_(ERR_ALREADY_MEMBER), code="member")
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        # One invitation at a time per company passes the members limit (the row lock).
        Company.objects.select_for_update().filter(pk=company.pk).first()
        pending = Invitation.objects.filter(
            company=company, email=email, accepted_at=None, revoked_at=None, expires_at__gt=timezone.now()
        ).exists()
        # Renewing someone's pending invitation takes no new seat.
        limits.limit_check(company, limits.MEMBERS, adding=0 if pending else 1)
        Invitation.objects.filter(company=company, email=email, accepted_at=None, revoked_at=None).update(
            revoked_at=timezone.now()
        )
        invitation = Invitation.objects.create(
            company=company,
            email=email,
            role=role,
            token_hash=Invitation.hash_token(token),
            invited_by=by.user,
            expires_at=timezone.now() + timedelta(days=settings.INVITATION_TTL_DAYS),
        )
    link = public_url(f"/invitations/{token}/")
    transaction.on_commit(lambda: _send_invitation_email(invitation, link))
    return invitation, token


@transaction.atomic
def invitation_resend(*, invitation: Invitation) -> Invitation:
    """Send a pending (or expired, never accepted or revoked) invitation again, with a new link
    (only the token's hash is stored) and a new expiry; the old link stops working. Support
    staff use it when the email was lost: the invitation's address and role stay the same."""
    import secrets

    invitation = Invitation.objects.select_for_update().select_related("company").get(pk=invitation.pk)
    if invitation.accepted_at is not None or invitation.revoked_at is not None:
        raise ValidationError(_(ERR_INVITATION_INVALID), code="invalid")
    token = secrets.token_urlsafe(32)
    invitation.token_hash = Invitation.hash_token(token)
    invitation.expires_at = timezone.now() + timedelta(days=settings.INVITATION_TTL_DAYS)
    invitation.save(update_fields=["token_hash", "expires_at"])
    link = public_url(f"/invitations/{token}/")
    transaction.on_commit(lambda: _send_invitation_email(invitation, link))
    return invitation


def _send_invitation_email(invitation: Invitation, link: str) -> None:
    context = {"invitation": invitation, "company": invitation.company, "link": link}
    send_mail(
        subject=_("You are invited to %(company)s on Master IA") % {"company": invitation.company.name},
        message=render_to_string("tenants/email/invitation.txt", context),
        from_email=None,
        recipient_list=[invitation.email],
    )


def invitation_lookup(token: str) -> Invitation | None:
    invitation = Invitation.objects.select_related("company").filter(token_hash=Invitation.hash_token(token)).first()
    if invitation is None or not invitation.is_pending:
        return None
    return invitation


def email_verified(*, user: User, email: str) -> bool:
    from allauth.account.models import EmailAddress

    return EmailAddress.objects.filter(user=user, email__iexact=email, verified=True).exists()


@transaction.atomic
def invitation_accept(*, token: str, user: User) -> Membership:
    invitation = (
        Invitation.objects.select_for_update()
        .select_related("company")
        .filter(token_hash=Invitation.hash_token(token))
        .first()
    )
    if invitation is None or not invitation.is_pending:
        raise ValidationError(_(ERR_INVITATION_INVALID), code="invalid")
    if invitation.email.lower() != user.email.lower():
        raise ValidationError(_(ERR_INVITATION_EMAIL), code="email")
    if not email_verified(user=user, email=invitation.email):
        # Anyone can register any address: only its proven owner joins through it.
        raise ValidationError(_(ERR_EMAIL_NOT_VERIFIED), code="unverified")
    # The invitation already holds its seat (pending invitations count): this fails only when
    # staff lowered the limit since it was sent.
    limits.limit_check(invitation.company, limits.MEMBERS, adding=0)
    membership, created = Membership.objects.get_or_create(
        user=user, company=invitation.company, defaults={"role": invitation.role}
    )
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_at"])
    return membership


@transaction.atomic
def invitation_revoke(*, invitation: Invitation) -> Invitation:
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at"])
    return invitation


def api_key_create(*, company: Company, name: str, role: str, by: User | None) -> tuple[ApiKey, str]:
    """Create a key; the returned full key is never stored and cannot be shown again."""
    from django.db import IntegrityError

    for _attempt in range(5):
        full, prefix, digest = ApiKey.generate()
        try:
            with transaction.atomic():
                key = ApiKey.objects.create(
                    company=company, name=name, prefix=prefix, key_hash=digest, role=role, created_by=by
                )
        except IntegrityError:
            continue  # the (unique) lookup prefix is taken: draw another key
        return key, full
    raise RuntimeError("could not draw an unused API key prefix")


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    api_key.revoked_at = timezone.now()
    api_key.save(update_fields=["revoked_at"])
    return api_key


@transaction.atomic
def company_update(*, company: Company, name: str, time_zone: str, locale: str) -> Company:
    company.name, company.time_zone, company.locale = name, time_zone, locale
    company.save(update_fields=["name", "time_zone", "locale"])
    return company


@transaction.atomic
def company_require_mfa(*, company: Company, required: bool, by: Membership) -> Company:
    """An owner requires (or stops requiring) two-factor authentication of every member."""
    if by.role != Role.OWNER:
        raise ValidationError(_(ERR_ROLE_NOT_ALLOWED), code="role")
    company.require_mfa = bool(required)
    company.save(update_fields=["require_mfa"])
    return company


@transaction.atomic
def company_suspend(*, company: Company, reason: str, by: User | None = None) -> Company:
    """Suspend a company (unpaid, abuse): members see a notice instead of the workspace, API
    keys and tokens stop, campaigns pause and no message is sent; webhooks are still recorded
    and nothing is deleted. Support staff keep their audited access."""
    from tenants.signals import company_suspended

    company = Company.objects.select_for_update().get(pk=company.pk)
    if not company.is_active:
        return company
    company.is_active = False
    company.suspended_at = timezone.now()
    company.suspension_reason = (reason or "").strip()[:500]
    company.save(update_fields=["is_active", "suspended_at", "suspension_reason"])
    transaction.on_commit(lambda: company_suspended.send(sender=Company, company=company))
    return company


@transaction.atomic
def company_reactivate(*, company: Company, by: User | None = None) -> Company:
    """Undo a suspension: everything is where it was; campaigns the suspension paused resume."""
    from tenants.signals import company_reactivated

    company = Company.objects.select_for_update().get(pk=company.pk)
    if company.is_active:
        return company
    company.is_active = True
    company.suspended_at = None
    company.suspension_reason = ""
    company.save(update_fields=["is_active", "suspended_at", "suspension_reason"])
    transaction.on_commit(lambda: company_reactivated.send(sender=Company, company=company))
    return company


def support_access_open(*, staff: User, company: Company, reason: str, ip: str | None) -> SupportAccess:
    return SupportAccess.objects.create(
        staff=staff,
        company=company,
        reason=reason.strip(),
        ip_address=ip,
        expires_at=timezone.now() + timedelta(minutes=settings.SUPPORT_ACCESS_TTL_MINUTES),
    )


# --- Moving a logged-in user between the public domain and a company's domain ---------------
# Every host keeps its own cookies, so crossing hosts goes through a short-lived signed ticket.
# The ticket is bound to the browser that asked for it: the company host first gives that
# browser a random nonce in a host-only cookie, and the ticket carries the nonce's hash. A
# ticket minted by someone else (login CSRF: "open this link" logs the victim in as the
# attacker) finds no matching cookie and is refused. It is spent by a POST only, so a link
# preview or a prefetch cannot use it up.
HANDOFF_SALT = "tenants.handoff"
HANDOFF_MAX_AGE = 60
HANDOFF_NONCE_MAX_AGE = 120
SUPPORT_SALT = "tenants.support"


def handoff_cookie_name() -> str:
    # __Host-: a page of another subdomain cannot plant its own nonce here (cookie tossing).
    return "__Host-handoff" if settings.SESSION_COOKIE_SECURE else "handoff"


def handoff_nonce() -> str:
    import secrets

    return secrets.token_urlsafe(32)


def handoff_browser(nonce: str) -> str:
    """What the ticket carries of the browser's nonce (the nonce itself never leaves its host)."""
    import hashlib

    return hashlib.sha256(nonce.encode()).hexdigest()


def handoff_ticket(
    *, user: User, company: Company, browser: str, next_path: str = "/", support_access: int | None = None
) -> str:
    import secrets

    data = {"u": user.pk, "c": company.schema_name, "n": next_path, "b": browser, "j": secrets.token_hex(8)}
    if support_access is not None:
        data["a"] = support_access
    return signing.dumps(data, salt=HANDOFF_SALT)


@dataclass(frozen=True)
class Handoff:
    user: User
    next_path: str
    support_access: int | None


def handoff_redeem(ticket: str, *, schema_name: str, nonce: str) -> Handoff | None:
    """The handoff of a valid, unused ticket issued for this schema and this browser's nonce."""
    import hmac

    from django.core.cache import cache

    try:
        data = signing.loads(ticket, salt=HANDOFF_SALT, max_age=HANDOFF_MAX_AGE)
    except signing.BadSignature:
        return None
    if data.get("c") != schema_name:
        return None
    if not nonce or not hmac.compare_digest(str(data.get("b", "")), handoff_browser(nonce)):
        return None
    # One use only: the ticket id is remembered until the ticket would have expired anyway.
    with schema_context("public"):
        if not cache.add(f"handoff:{data['j']}", 1, HANDOFF_MAX_AGE + 5):
            return None
    user = User.objects.filter(pk=data["u"], is_active=True).first()
    if user is None:
        return None
    next_path = data.get("n") or "/"
    if not next_path.startswith("/") or next_path.startswith("//"):
        next_path = "/"
    return Handoff(user=user, next_path=next_path, support_access=data.get("a"))


def support_ticket(*, access: SupportAccess) -> str:
    """Names a support access on its way to the company host (signed; short-lived)."""
    return signing.dumps({"a": access.pk, "c": access.company.schema_name}, salt=SUPPORT_SALT)


def support_ticket_access(ticket: str, *, staff: User, company: Company) -> SupportAccess | None:
    """The live support access a ticket names, if it is this staff member's for this company."""
    try:
        data = signing.loads(ticket, salt=SUPPORT_SALT, max_age=HANDOFF_NONCE_MAX_AGE)
    except signing.BadSignature:
        return None
    if data.get("c") != company.schema_name:
        return None
    return SupportAccess.objects.filter(
        pk=data.get("a"), staff=staff, company=company, expires_at__gt=timezone.now()
    ).first()


@transaction.atomic
def user_update_profile(*, user: User, full_name: str, language: str) -> User:
    """The person's own name and interface language ("" follows each company's language)."""
    user.full_name, user.language = full_name.strip(), language
    user.save(update_fields=["full_name", "language"])
    return user
