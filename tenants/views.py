"""Pages of the public domain (workspaces, invitations, sign-up landing) and of a company's
workspace (dashboard, members, API keys, company profile, support entry, host handoff)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tenants import selectors, services
from tenants.forms import (
    PENDING_INVITATION_KEY,
    ApiKeyForm,
    CompanyCreateForm,
    CompanyProfileForm,
    InviteForm,
    RoleForm,
)
from tenants.models import ApiKey, Company, Invitation, Membership
from tenants.permissions import role_required
from tenants.roles import Role, assignable_roles

MSG_INVITED = "Invitation sent to %(email)s."
MSG_ROLE_CHANGED = "Role updated."
MSG_MEMBER_REMOVED = "Member removed."
MSG_KEY_REVOKED = "API key revoked."
MSG_PROFILE_SAVED = "Company profile saved."
MSG_INVITATION_REVOKED = "Invitation revoked."


# --- Public domain -----------------------------------------------------------------------------
def home(request):
    if request.user.is_authenticated:
        return redirect("workspaces")
    return render(request, "tenants/landing.html")


@login_required
def workspaces(request):
    form = CompanyCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        company = services.company_create(
            name=form.cleaned_data["name"], slug=form.cleaned_data["slug"] or None, owner=request.user
        )
        return redirect("workspace-open", slug=company.slug)
    memberships = selectors.memberships_for_user(user=request.user)
    return render(request, "tenants/workspaces.html", {"memberships": memberships, "form": form})


@login_required
def workspace_open(request, slug: str):
    """Send a logged-in member to their company's domain with a one-time ticket."""
    company = get_object_or_404(Company, slug=slug, is_active=True)
    if not Membership.objects.filter(user=request.user, company=company).exists():
        raise Http404
    next_path = request.GET.get("next", "/")
    ticket = services.handoff_ticket(user=request.user, company=company, next_path=next_path)
    return HttpResponseRedirect(services.workspace_url(company, f"/auth/handoff/?t={ticket}"))


def invitation(request, token: str):
    invite = services.invitation_lookup(token)
    if invite is None:
        return render(request, "tenants/invitation_invalid.html", status=404)
    if request.method == "POST":
        if not request.user.is_authenticated:
            request.session[PENDING_INVITATION_KEY] = token
            return redirect("account_signup")
        try:
            membership = services.invitation_accept(token=token, user=request.user)
        except ValidationError as exc:
            messages.error(request, exc.messages[0])
            return redirect("workspaces")
        return redirect("workspace-open", slug=membership.company.slug)
    request.session[PENDING_INVITATION_KEY] = token
    return render(request, "tenants/invitation.html", {"invitation": invite})


# --- Company domain ------------------------------------------------------------------------------
def handoff(request):
    redeemed = services.handoff_redeem(request.GET.get("t", ""), schema_name=request.tenant.schema_name)
    if redeemed is None:
        return redirect("account_login")
    user, next_path = redeemed
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return redirect(next_path)


def workspace_home(request):
    if not request.user.is_authenticated:
        return redirect(f"/accounts/login/?next={request.get_full_path()}")
    return dashboard(request)


@role_required("workspace.view")
def dashboard(request):
    company = request.tenant
    context = {
        "member_count": Membership.objects.filter(company=company).count(),
        "pending_invitations": selectors.company_pending_invitations(company=company).count(),
    }
    return render(request, "tenants/dashboard.html", context)


@role_required("workspace.view")
def members(request):
    company = request.tenant
    form = InviteForm(request.POST or None)
    principal = request.principal
    form.fields["role"].choices = [(r, Role(r).label) for r in assignable_roles(principal.role)]
    if request.method == "POST":
        if not principal.can(Role.ADMIN):
            raise Http404
        if form.is_valid():
            by = _acting_membership(request)
            try:
                services.invitation_create(
                    company=company, email=form.cleaned_data["email"], role=form.cleaned_data["role"], by=by
                )
            except ValidationError as exc:
                form.add_error("email", exc.messages[0])
            else:
                messages.success(request, _(MSG_INVITED) % {"email": form.cleaned_data["email"]})
                return redirect("members")
    context = {
        "members": selectors.company_members(company=company),
        "invitations": selectors.company_pending_invitations(company=company),
        "form": form,
        "role_choices": [(r, Role(r).label) for r in assignable_roles(principal.role)],
    }
    return render(request, "tenants/members.html", context)


def _acting_membership(request) -> Membership:
    if request.membership is not None:
        return request.membership
    # Support staff act with the admin role, without being members.
    return Membership(user=request.user, company=request.tenant, role=request.principal.role)


@require_POST
@role_required("members.manage")
def member_role(request, pk: int):
    membership = get_object_or_404(Membership, pk=pk, company=request.tenant)
    form = RoleForm(request.POST)
    if form.is_valid():
        try:
            services.membership_set_role(
                membership=membership, role=form.cleaned_data["role"], by=_acting_membership(request)
            )
            messages.success(request, _(MSG_ROLE_CHANGED))
        except ValidationError as exc:
            messages.error(request, exc.messages[0])
    return redirect("members")


@require_POST
@role_required("members.manage")
def member_remove(request, pk: int):
    membership = get_object_or_404(Membership, pk=pk, company=request.tenant)
    try:
        services.membership_remove(membership=membership, by=_acting_membership(request))
        messages.success(request, _(MSG_MEMBER_REMOVED))
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    return redirect("members")


@require_POST
@role_required("members.manage")
def invitation_revoke(request, pk: int):
    invite = get_object_or_404(Invitation, pk=pk, company=request.tenant)
    services.invitation_revoke(invitation=invite)
    messages.success(request, _(MSG_INVITATION_REVOKED))
    return redirect("members")


@role_required("api_keys.manage")
def api_keys(request):
    form = ApiKeyForm(request.POST or None)
    created_key = None
    if request.method == "POST" and form.is_valid():
        _key, created_key = services.api_key_create(
            company=request.tenant,
            name=form.cleaned_data["name"],
            role=form.cleaned_data["role"],
            by=request.user,
        )
        form = ApiKeyForm()
    context = {"keys": selectors.company_api_keys(company=request.tenant), "form": form, "created_key": created_key}
    return render(request, "tenants/api_keys.html", context)


@require_POST
@role_required("api_keys.manage")
def api_key_revoke(request, pk: int):
    key = get_object_or_404(ApiKey, pk=pk, company=request.tenant)
    services.api_key_revoke(api_key=key)
    messages.success(request, _(MSG_KEY_REVOKED))
    return redirect("api-keys")


@role_required("company.manage")
def company_profile(request):
    form = CompanyProfileForm(request.POST or None, instance=request.tenant)
    if request.method == "POST" and form.is_valid():
        services.company_update(
            company=request.tenant,
            name=form.cleaned_data["name"],
            time_zone=form.cleaned_data["time_zone"],
            locale=form.cleaned_data["locale"],
        )
        messages.success(request, _(MSG_PROFILE_SAVED))
        return redirect("company-profile")
    return render(request, "tenants/company_profile.html", {"form": form})


def support_enter(request):
    """Redeem a support ticket issued from the admin (the audit row already exists)."""
    from django.core import signing

    from tenants.middleware import SUPPORT_SESSION_KEY

    try:
        data = signing.loads(request.GET.get("t", ""), salt="tenants.support", max_age=120)
    except signing.BadSignature:
        raise Http404 from None
    if data.get("c") != request.tenant.schema_name:
        raise Http404
    redeemed = services.handoff_redeem(data["h"], schema_name=request.tenant.schema_name)
    if redeemed is None:
        raise Http404
    user, _next = redeemed
    if not user.is_staff:
        raise Http404
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    grants = request.session.get(SUPPORT_SESSION_KEY, {})
    grants[request.tenant.schema_name] = data["a"]
    request.session[SUPPORT_SESSION_KEY] = grants
    return redirect("/")
