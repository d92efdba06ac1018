"""Pages of the public domain (landing, workspaces, invitations) and of a company's workspace
(dashboard, settings: company, members, API keys, own profile; support entry, host handoff).
The PWA files and the interface kit page are the ``ui`` app's."""

from __future__ import annotations

from urllib.parse import urlencode

from allauth.account.adapter import get_adapter as get_account_adapter
from allauth.account.views import SignupView as AllauthSignupView
from django.apps import apps
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models import Q
from django.http import Http404, HttpResponseForbidden, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone, translation
from django.utils.html import format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django.views.decorators.http import require_POST

from tenants import limits, selectors, services
from tenants.adapters import ask_to_verify_email
from tenants.context import current_schema
from tenants.forms import (
    PENDING_INVITATION_KEY,
    ApiKeyForm,
    CompanyCreateForm,
    CompanyProfileForm,
    CompanySecurityForm,
    InviteForm,
    ProfileForm,
    RoleForm,
)
from tenants.middleware import SUPPORT_PERMISSION, SUPPORT_SESSION_KEY
from tenants.models import ApiKey, Company, Invitation, Membership
from tenants.permissions import ERR_SUPPORT_READ_ONLY, can, role_required
from tenants.roles import Role, assignable_roles
from ui import navigation
from ui.pagination import paginate

MSG_INVITED = gettext_noop("Invitation sent to %(email)s.")
MSG_ROLE_CHANGED = gettext_noop("Role updated.")
MSG_MEMBER_REMOVED = gettext_noop("Member removed.")
MSG_KEY_CREATED = gettext_noop("API key created. Copy it now: it will not be shown again.")
MSG_KEY_REVOKED = gettext_noop("API key revoked.")
MSG_PROFILE_SAVED = gettext_noop("Company profile saved.")
MSG_INVITATION_REVOKED = gettext_noop("Invitation revoked.")
MSG_USER_PROFILE_SAVED = gettext_noop("Your profile was saved.")
MSG_COMPANY_CREATED = gettext_noop("Company created.")


# --- Public domain -----------------------------------------------------------------------------
def home(request):
    if request.user.is_authenticated:
        return redirect("tenants:workspaces")
    return render(request, "tenants/landing.html")


@login_required
def workspaces(request):
    form = CompanyCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        company = services.company_create(
            name=form.cleaned_data["name"], slug=form.cleaned_data["slug"] or None, owner=request.user
        )
        return redirect("tenants:workspace-open", slug=company.slug)
    memberships = selectors.memberships_for_user(user=request.user)
    context = {"memberships": memberships, "form": form, "base_domain": settings.BASE_DOMAIN}
    return render(request, "tenants/workspaces.html", context)


@login_required
def workspace_open(request, slug: str):
    """Send a logged-in member (or support staff with a support ticket) to the company's
    domain with a one-time ticket bound to their browser (``services.handoff_ticket``).

    Without ``b`` (the hash of the browser's nonce) the company host is asked for one first: it
    sets the nonce in a cookie of its own and sends the browser back here with its hash."""
    company = get_object_or_404(Company, slug=slug, is_active=True)
    support = request.GET.get("support", "")
    access = None
    if support:
        access = services.support_ticket_access(support, staff=request.user, company=company)
        if access is None or not request.user.has_perm(SUPPORT_PERMISSION):
            raise Http404
    elif not Membership.objects.filter(user=request.user, company=company).exists():
        raise Http404
    next_path = request.GET.get("next", "/")
    browser = request.GET.get("b", "")
    if len(browser) != 64:
        query = urlencode({"next": next_path, **({"support": support} if support else {})})
        return HttpResponseRedirect(services.workspace_url(company, f"/auth/handoff/start/?{query}"))
    ticket = services.handoff_ticket(
        user=request.user,
        company=company,
        browser=browser,
        next_path=next_path,
        support_access=access.pk if access else None,
    )
    return HttpResponseRedirect(services.workspace_url(company, f"/auth/handoff/?{urlencode({'t': ticket})}"))


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
            if exc.code == "unverified":
                ask_to_verify_email(request, request.user)
            else:
                messages.error(request, exc.messages[0])
            return redirect("tenants:workspaces")
        return redirect("tenants:workspace-open", slug=membership.company.slug)
    request.session[PENDING_INVITATION_KEY] = token
    # The link reached this browser through the invited address: signing up with that address
    # here creates it verified (allauth's stash), so the invitation can be accepted.
    get_account_adapter(request).stash_verified_email(request, invite.email)
    return render(request, "tenants/invitation.html", {"invitation": invite})


class SignupView(AllauthSignupView):
    """allauth's sign-up, told about the invitation this browser is following (if any): the
    form then asks for no company name (the person joins the inviting company)."""

    def _invitation(self):
        token = self.request.session.get(PENDING_INVITATION_KEY)
        return services.invitation_lookup(token) if token else None

    def get_form_kwargs(self):
        return {**super().get_form_kwargs(), "invitation": self._invitation()}

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "invitation": self._invitation()}


signup = SignupView.as_view()


# --- Company domain ------------------------------------------------------------------------------
def handoff_start(request):
    """First leg of a crossing: give this browser a nonce (host-only cookie) and ask the
    public domain for a ticket bound to it."""
    nonce = services.handoff_nonce()
    query = {"next": request.GET.get("next", "/"), "b": services.handoff_browser(nonce)}
    if request.GET.get("support"):
        query["support"] = request.GET["support"]
    response = HttpResponseRedirect(services.public_url(f"/workspaces/{request.tenant.slug}/open/?{urlencode(query)}"))
    response.set_cookie(
        services.handoff_cookie_name(),
        nonce,
        max_age=services.HANDOFF_NONCE_MAX_AGE,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
    return response


def handoff(request):
    """Last leg: a GET shows a form the page submits at once (nothing is spent); the POST spends
    the ticket, in the browser whose nonce it carries only."""
    if request.method != "POST":
        return render(request, "tenants/handoff.html", {"ticket": request.GET.get("t", "")})
    redeemed = services.handoff_redeem(
        request.POST.get("t", ""),
        schema_name=request.tenant.schema_name,
        nonce=request.COOKIES.get(services.handoff_cookie_name(), ""),
    )
    if redeemed is None:
        return redirect("account_login")
    user = redeemed.user
    if redeemed.support_access is not None:
        if not user.is_staff or not user.has_perm(SUPPORT_PERMISSION):
            return redirect("account_login")
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    if redeemed.support_access is not None:
        grants = request.session.get(SUPPORT_SESSION_KEY, {})
        grants[request.tenant.schema_name] = redeemed.support_access
        request.session[SUPPORT_SESSION_KEY] = grants
    response = redirect(redeemed.next_path)
    response.delete_cookie(services.handoff_cookie_name())
    if user.language:
        # Cookies stay on their host: bring the person's own language along.
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME, user.language, max_age=365 * 24 * 3600, secure=settings.SESSION_COOKIE_SECURE
        )
    return response


def workspace_home(request):
    if not request.user.is_authenticated:
        return redirect(f"/accounts/login/?next={request.get_full_path()}")
    return dashboard(request)


def _model(label: str):
    """A model of another app when that app is installed and defines it, else None. The
    dashboard shows a number only for features that exist in this deployment."""
    app_label, name = label.split(".")
    if not apps.is_installed(app_label):
        return None
    try:
        return apps.get_model(app_label, name)
    except LookupError:
        return None


def _first_url(*names: str) -> str | None:
    for name in names:
        try:
            return reverse(name)
        except NoReverseMatch:
            continue
    return None


# Above this many rows the dashboard shows PostgreSQL's estimate instead of counting every row
# (a COUNT(*) over millions of contacts would dominate the page's time).
EXACT_COUNT_LIMIT = 10_000


def _count(queryset, *, whole_table: bool = False) -> tuple[int, str]:
    """``(count, kind)`` with kind "exact", "estimate" or "at_least". For a whole table the
    planner's estimate (pg_class.reltuples, kept fresh by autovacuum) decides: small tables are
    counted exactly, big ones estimated. Otherwise rows are counted up to EXACT_COUNT_LIMIT and
    a bigger result is shown as "10,000+"."""
    estimate = -1
    if whole_table:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT c.reltuples::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.relname = %s AND n.nspname = %s",
                [queryset.model._meta.db_table, current_schema()],
            )
            row = cursor.fetchone()
        estimate = int(row[0]) if row else -1
        if estimate > EXACT_COUNT_LIMIT:
            return estimate, "estimate"
    capped = queryset.order_by()[: EXACT_COUNT_LIMIT + 1].count()
    if capped <= EXACT_COUNT_LIMIT:
        return capped, "exact"
    return EXACT_COUNT_LIMIT, "at_least"


def dashboard_stats(company: Company) -> dict:
    """Numbers of the home dashboard; a feature whose app is absent is left out (None)."""
    stats: dict = {
        "members": Membership.objects.filter(company=company).count(),
        "pending_invitations": selectors.company_pending_invitations(company=company).count(),
        "channels": None,
        "channels_connected": None,
        "contacts": None,
        "contacts_kind": "exact",
        "open_conversations": None,
        "open_conversations_kind": "exact",
    }
    channel_model = _model("inbox.Channel")
    if channel_model is not None:
        from django.db.models import Count

        agg = channel_model.objects.filter(is_active=True).aggregate(
            total=Count("id"), connected=Count("id", filter=Q(status="connected"))
        )
        stats["channels"], stats["channels_connected"] = agg["total"], agg["connected"]
    contact_model = _model("crm.Contact")
    if contact_model is not None:
        stats["contacts"], stats["contacts_kind"] = _count(contact_model.objects.all(), whole_table=True)
    conversation_model = _model("inbox.Conversation")
    if conversation_model is not None:
        stats["open_conversations"], stats["open_conversations_kind"] = _count(
            conversation_model.objects.filter(status="open")
        )
    return stats


@role_required("workspace.view")
def dashboard(request):
    company = request.tenant
    stats = dashboard_stats(company)
    principal = request.principal
    steps = []
    if stats["channels"] is not None:
        steps.append(
            {
                "key": "channel",
                "icon": "device-phone-mobile",
                "title": _("Connect a WhatsApp or SMS number"),
                "text": _("Use the WhatsApp Cloud API, scan a QR code, or start with the sandbox number."),
                "done": stats["channels"] > 0,
                "url": navigation.entry_url("channels", principal),
                "action": _("Connect a channel"),
            }
        )
    if stats["contacts"] is not None:
        steps.append(
            {
                "key": "contacts",
                "icon": "arrow-up-tray",
                "title": _("Import your contacts"),
                "text": _("Upload the spreadsheet you already have (CSV from Excel or Google Sheets)."),
                "done": stats["contacts"] > 0,
                "url": navigation.entry_url("imports", principal),
                "action": _("Import contacts"),
            }
        )
    steps.append(
        {
            "key": "invite",
            "icon": "user-plus",
            "title": _("Invite a colleague"),
            "text": _("Bring your team in: agents answer customers, admins manage the workspace."),
            "done": stats["members"] > 1 or stats["pending_invitations"] > 0,
            "url": reverse("tenants:members") + "#invite" if principal.can(Role.ADMIN) else None,
            "action": _("Invite"),
        }
    )
    done = sum(1 for s in steps if s["done"])
    hour = timezone.localtime().hour
    greeting = _("Good morning") if 5 <= hour < 12 else _("Good afternoon") if 12 <= hour < 18 else _("Good evening")
    context = {
        "stats": stats,
        "member_count": stats["members"],
        "pending_invitations": stats["pending_invitations"],
        "steps": steps,
        "steps_done": done,
        "show_steps": done < len(steps),
        "greeting": greeting,
        "team": selectors.company_members(company=company).order_by("created_at")[:5],
        "usage": limits.usage_all(company),
    }
    return render(request, "tenants/dashboard.html", context)


@role_required("workspace.view")
def members(request):
    company = request.tenant
    principal = request.principal
    form = InviteForm(request.POST or None)
    role_choices = [(r, str(Role(r).label)) for r in assignable_roles(principal.role)]
    form.fields["role"].choices = role_choices
    if request.method == "POST":
        if not principal.can(Role.ADMIN):
            raise Http404
        if not can(principal, "members.manage", write=True):
            return HttpResponseForbidden(_(ERR_SUPPORT_READ_ONLY))
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
                return redirect("tenants:members")
    q = request.GET.get("q", "").strip()
    queryset = selectors.company_members(company=company).order_by("user__email", "pk")
    if q:
        queryset = queryset.filter(Q(user__email__icontains=q) | Q(user__full_name__icontains=q))
    page = paginate(request, queryset)
    _member_rows(page.items, me=request.user.pk, manage=can(principal, "members.manage"), role_choices=role_choices)
    invitations = list(selectors.company_pending_invitations(company=company).select_related("invited_by"))
    context = {
        "page": page,
        "q": q,
        "members": page.items,
        "invitations": invitations,
        "form": form,
        "columns": [_("Member"), _("Role"), _("Joined"), ""],
    }
    if request.htmx and request.htmx.target == "members-table":
        return render(request, "tenants/partials/members_table.html", context)
    return render(request, "tenants/members.html", context)


def _member_rows(members, *, me: int, manage: bool, role_choices: list[tuple[str, str]]) -> None:
    """What each member row shows, computed once per page (a row's template lookups were most
    of the page's time): ``display`` (name), ``is_me``, ``manageable`` (the viewer may change
    this member's role or remove them) and ``role_options`` (the role select's options, built
    once per role)."""
    options = {
        role: format_html_join(
            "",
            '<option value="{}"{}>{}</option>',
            ((value, " selected" if value == role else "", label) for value, label in role_choices),
        )
        for role, _label in role_choices
    }
    for m in members:
        m.display = m.user.display_name
        m.is_me = m.user_id == me
        m.manageable = manage and not m.is_me and m.role in options
        m.role_options = options.get(m.role, "")


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
    else:
        # ErrorList.__getitem__ returns the message text (the stubs also allow a ValidationError)
        messages.error(request, str(form.errors["role"][0]))
    return redirect("tenants:members")


@require_POST
@role_required("members.manage")
def member_remove(request, pk: int):
    membership = get_object_or_404(Membership, pk=pk, company=request.tenant)
    try:
        services.membership_remove(membership=membership, by=_acting_membership(request))
        messages.success(request, _(MSG_MEMBER_REMOVED))
    except ValidationError as exc:
        messages.error(request, exc.messages[0])
    return redirect("tenants:members")


@require_POST
@role_required("members.manage")
def invitation_revoke(request, pk: int):
    invite = get_object_or_404(Invitation, pk=pk, company=request.tenant)
    services.invitation_revoke(invitation=invite)
    messages.success(request, _(MSG_INVITATION_REVOKED))
    return redirect("tenants:members")


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
    keys = list(selectors.company_api_keys(company=request.tenant))
    context = {
        "keys": keys,
        "active_count": sum(1 for k in keys if k.revoked_at is None),
        "form": form,
        "created_key": created_key,
        "api_docs_url": _first_url("api-docs"),
    }
    response = render(request, "tenants/api_keys.html", context)
    if created_key:
        # The key is in this page only: keep it out of every cache and of the back button.
        response["Cache-Control"] = "no-store"
    return response


@require_POST
@role_required("api_keys.manage")
def api_key_revoke(request, pk: int):
    key = get_object_or_404(ApiKey, pk=pk, company=request.tenant)
    services.api_key_revoke(api_key=key)
    messages.success(request, _(MSG_KEY_REVOKED))
    return redirect("tenants:api-keys")


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
        return redirect("tenants:company-profile")
    if request.method == "POST":
        # ModelForm validation assigned the bad values to the tenant instance: undo that so
        # the shell (company name in the top bar) keeps showing what is stored.
        request.tenant.refresh_from_db(fields=["name", "time_zone", "locale"])
    is_owner = request.membership is not None and request.membership.role == Role.OWNER
    context = {
        "form": form,
        "workspace_address": services.workspace_url(request.tenant),
        "security_form": CompanySecurityForm(initial={"require_mfa": request.tenant.require_mfa}) if is_owner else None,
    }
    return render(request, "tenants/company_profile.html", context)


@role_required(Role.OWNER)
@require_POST
def company_security(request):
    """The owner's switch: two-factor authentication required of every member."""
    form = CompanySecurityForm(request.POST)
    if form.is_valid() and request.membership is not None:
        try:
            services.company_require_mfa(
                company=request.tenant, required=form.cleaned_data["require_mfa"], by=request.membership
            )
        except ValidationError as exc:
            for text in exc.messages:
                messages.error(request, text)
        else:
            messages.success(request, _(MSG_PROFILE_SAVED))
    return redirect("tenants:company-profile")


@role_required("workspace.view")
def profile(request):
    """The person's own profile: name, language; links to password, emails, social logins."""
    user = request.user
    form = ProfileForm(request.POST or None, initial={"full_name": user.full_name, "language": user.language})
    if request.method == "POST" and form.is_valid():
        language = form.cleaned_data["language"]
        services.user_update_profile(user=user, full_name=form.cleaned_data["full_name"], language=language)
        effective = language or request.tenant.locale
        translation.activate(effective)
        messages.success(request, _(MSG_USER_PROFILE_SAVED))
        response = redirect("tenants:profile")
        if language:
            response.set_cookie(
                settings.LANGUAGE_COOKIE_NAME, language, max_age=365 * 24 * 3600, domain=settings.LANGUAGE_COOKIE_DOMAIN
            )
        else:
            response.delete_cookie(settings.LANGUAGE_COOKIE_NAME, domain=settings.LANGUAGE_COOKIE_DOMAIN)
        return response
    from allauth.socialaccount.models import SocialAccount

    context = {
        "form": form,
        "social_accounts": list(SocialAccount.objects.filter(user=user)),
        "email_count": user.emailaddress_set.count(),
        "memberships": selectors.memberships_for_user(user=user),
    }
    return render(request, "tenants/profile.html", context)
