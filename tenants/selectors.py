"""Reads on companies, users and memberships."""

from __future__ import annotations

from django.db.models import Count, QuerySet

from tenants.models import ApiKey, Company, Invitation, Membership, User
from tenants.roles import Role


def membership_for(*, user: User, company: Company) -> Membership | None:
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(user=user, company=company, company__is_active=True).first()


def companies_for_user(*, user: User) -> QuerySet[Company]:
    return Company.objects.filter(memberships__user=user, is_active=True).order_by("name")


def memberships_for_user(*, user: User) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(user=user, company__is_active=True)
        .select_related("company")
        .order_by("company__name")
    )


def company_members(*, company: Company) -> QuerySet[Membership]:
    return Membership.objects.filter(company=company).select_related("user").order_by("user__email")


def company_agents(*, company: Company) -> QuerySet[Membership]:
    """Memberships of the people who answer conversations (owners, admins and agents; viewers
    only read), by name."""
    return (
        Membership.objects.filter(company=company, role__in=[Role.OWNER, Role.ADMIN, Role.AGENT])
        .select_related("user")
        .order_by("user__full_name", "user__email")
    )


def company_users(*, company: Company) -> QuerySet[User]:
    """The people who are members of the company (any role), by name (one row each: a user has
    one membership per company)."""
    return User.objects.filter(memberships__company=company).order_by("full_name", "email")


def users_by_id(ids) -> dict[int | None, User]:
    """Users by primary key (the ones that exist; falsy ids are skipped, so ``.get(None)`` is
    simply ``None``)."""
    wanted = {i for i in ids if i}
    return {u.pk: u for u in User.objects.filter(pk__in=wanted)} if wanted else {}


def company_pending_invitations(*, company: Company) -> QuerySet[Invitation]:
    from django.utils import timezone

    return Invitation.objects.filter(
        company=company, accepted_at=None, revoked_at=None, expires_at__gt=timezone.now()
    ).order_by("-created_at")


def company_api_keys(*, company: Company) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(company=company).select_related("created_by")


def companies_with_member_counts() -> QuerySet[Company]:
    return Company.objects.exclude(schema_name="public").annotate(member_count=Count("memberships"))
