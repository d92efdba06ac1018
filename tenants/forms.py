from __future__ import annotations

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.utils.translation import gettext_lazy as _

from tenants.models import TIME_ZONE_CHOICES, Company, Locale
from tenants.roles import Role

PENDING_INVITATION_KEY = "pending_invitation"


class CompanySignupForm(forms.Form):
    """Extra sign-up fields (allauth ``ACCOUNT_SIGNUP_FORM_CLASS``).

    A person who arrives through an invitation joins that company instead of creating one.
    """

    full_name = forms.CharField(label=_("Your name"), max_length=150, required=False)
    company_name = forms.CharField(label=_("Company name"), max_length=120, required=False)

    def __init__(self, *args, invitation=None, **kwargs):
        # ``invitation``: the pending invitation of this browser (see tenants.views.SignupView);
        # its company is the one joined, so there is no company name to ask for.
        super().__init__(*args, **kwargs)
        self.invitation = invitation
        if invitation is not None:
            del self.fields["company_name"]
            if "email" in self.fields and not self.is_bound:
                self.fields["email"].initial = invitation.email

    def signup(self, request, user) -> None:
        from tenants import services

        user.full_name = self.cleaned_data.get("full_name", "")
        user.save(update_fields=["full_name"])
        if request.session.get(PENDING_INVITATION_KEY):
            # Joined once the address is set up and verified (the invitation link verifies
            # it), by the sign-up redirect: ``tenants.adapters._post_login_url``.
            return
        name = (self.cleaned_data.get("company_name") or "").strip()
        if name:
            services.company_create(name=name, owner=user)


class CompanyCreateForm(forms.Form):
    name = forms.CharField(label=_("Company name"), max_length=120)
    slug = forms.SlugField(
        label=_("Address"),
        max_length=48,
        required=False,
        help_text=_("Lowercase letters, digits and hyphens. Leave empty to derive it from the name."),
    )

    def clean_slug(self):
        from django.core.exceptions import ValidationError

        from tenants.services import validate_slug

        slug = (self.cleaned_data.get("slug") or "").strip().lower()
        if slug:
            try:
                validate_slug(slug)
            except ValidationError as exc:
                raise forms.ValidationError(exc.messages) from exc
        return slug


class InviteForm(forms.Form):
    email = forms.EmailField(
        label=_("Email"),
        widget=forms.EmailInput(attrs={"placeholder": _("colleague@company.com.br"), "autocomplete": "off"}),
    )
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.AGENT)


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=80,
        help_text=_("Where the key is used, e.g. “ERP integration”."),
        widget=forms.TextInput(attrs={"placeholder": _("ERP integration")}),
    )
    role = forms.ChoiceField(
        label=_("Role"),
        choices=[(Role.ADMIN, Role.ADMIN.label), (Role.AGENT, Role.AGENT.label), (Role.VIEWER, Role.VIEWER.label)],
        initial=Role.ADMIN,
    )


class FastSelect(forms.Select):
    """A select rendered in Python. Django renders every option through a template, which
    costs tens of milliseconds for the 400-odd time zones on each company profile page."""

    def render(self, name, value, attrs=None, renderer=None):
        from django.forms.utils import flatatt
        from django.utils.html import format_html, format_html_join
        from django.utils.safestring import mark_safe

        final_attrs = self.build_attrs(self.attrs, attrs)
        final_attrs["name"] = name
        selected = {str(v) for v in (value if isinstance(value, (list, tuple)) else [value]) if v is not None}
        options = format_html_join(
            "",
            '<option value="{}"{}>{}</option>',
            ((str(v), mark_safe(" selected") if str(v) in selected else "", label) for v, label in self.choices),
        )
        return format_html("<select{}>{}</select>", flatatt(final_attrs), options)


class CompanyProfileForm(forms.ModelForm):
    time_zone = forms.ChoiceField(label=_("Time zone"), choices=TIME_ZONE_CHOICES, widget=FastSelect)
    locale = forms.ChoiceField(label=_("Language"), choices=Locale.choices)

    class Meta:
        model = Company
        fields = ["name", "time_zone", "locale"]


class CompanySecurityForm(forms.Form):
    require_mfa = forms.BooleanField(
        label=_("Require two-factor authentication of every member"),
        required=False,
        help_text=_("Members without an authenticator app are asked to set one up before they can use the workspace."),
    )


class SupportAccessForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        widget=forms.Textarea(attrs={"rows": 3}),
        min_length=10,
        help_text=_("Why you need to open this workspace (e.g. the ticket number)."),
    )


class SuspendForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=500,
        min_length=5,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "Why the company is suspended (unpaid invoice, abuse report...). Staff see it on the company page."
        ),
    )


class ProfileForm(forms.Form):
    full_name = forms.CharField(label=_("Your name"), max_length=150, required=False)
    language = forms.ChoiceField(
        label=_("Language"),
        choices=[("", _("Same as the company"))] + list(Locale.choices),
        required=False,
        help_text=_("The language of menus, messages and emails for you."),
    )


class LockoutAdminAuthenticationForm(AdminAuthenticationForm):
    """``/admin/login/`` behind the same lockout as every other way in (``tenants.lockout``)."""

    def clean(self):
        from tenants import lockout

        try:
            attempt = lockout.begin(self.request, self.cleaned_data.get("username") or "", via="admin")
        except lockout.LockedOut as locked:
            raise forms.ValidationError(locked.message(), code="locked") from None
        try:
            return super().clean()
        finally:
            # A right password counts as a success even for a person who is not staff (the
            # form then refuses with the same words as for a wrong one).
            attempt.finish(success=self.user_cache is not None)
