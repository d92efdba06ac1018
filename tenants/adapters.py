"""allauth adapters: where people go after logging in, and safe social-account linking."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from tenants.forms import PENDING_INVITATION_KEY


def ask_to_verify_email(request, user) -> None:
    """Send the confirmation link of the person's address again, and say why."""
    from allauth.account.models import EmailAddress

    from tenants.services import ERR_EMAIL_NOT_VERIFIED

    address = EmailAddress.objects.filter(user=user, email__iexact=user.email).first()
    if address is None:
        address = EmailAddress.objects.create(user=user, email=user.email.lower(), primary=True, verified=False)
    address.send_confirmation(request)
    messages.warning(request, _(ERR_EMAIL_NOT_VERIFIED))


def _post_login_url(request) -> str:
    from tenants import selectors, services

    tenant = getattr(request, "tenant", None)
    if tenant is not None and tenant.schema_name != "public":
        return "/"
    user = request.user
    token = request.session.pop(PENDING_INVITATION_KEY, None)
    if token:
        try:
            membership = services.invitation_accept(token=token, user=user)
        except ValidationError as exc:  # an expired invitation must not break the login
            if exc.code == "unverified":
                ask_to_verify_email(request, user)
            membership = None
        if membership is not None:
            return f"/workspaces/{membership.company.slug}/open/"
    companies = list(selectors.companies_for_user(user=user)[:2])
    if len(companies) == 1:
        return f"/workspaces/{companies[0].slug}/open/"
    return "/workspaces/"


class AccountAdapter(DefaultAccountAdapter):
    def get_login_redirect_url(self, request):
        return _post_login_url(request)

    def get_signup_redirect_url(self, request):
        return _post_login_url(request)

    def authenticate(self, request, **credentials):
        """allauth's check of email and password, behind the one lockout (``tenants.lockout``)
        instead of allauth's own counters, which restart on every host."""
        from django import forms

        from tenants import lockout

        try:
            attempt = lockout.begin(request, credentials.get("email") or "", via="form")
        except lockout.LockedOut as locked:
            raise forms.ValidationError(locked.message(), code="too_many_login_attempts") from None
        user = super().authenticate(request, **credentials)
        attempt.finish(success=user is not None)
        return user

    def _delete_login_attempts_cached_email(self, request, **credentials):
        """A password reset (the mailbox proved) lifts the account's lockout."""
        from tenants import lockout

        super()._delete_login_attempts_cached_email(request, **credentials)
        lockout.clear_account(credentials.get("email") or "")

    def is_open_for_signup(self, request):
        # Sign-up happens on the public domain; company domains only offer login.
        tenant = getattr(request, "tenant", None)
        return tenant is None or tenant.schema_name == "public"


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    def is_open_for_signup(self, request, sociallogin):
        tenant = getattr(request, "tenant", None)
        return tenant is None or tenant.schema_name == "public"

    def populate_user(self, request, sociallogin, data):
        user = super().populate_user(request, sociallogin, data)
        name = " ".join(p for p in [data.get("first_name"), data.get("last_name")] if p) or data.get("name", "")
        user.full_name = name[:150]
        return user
