"""Support admin (public domain only): companies, domains, users, memberships, audit log."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.core.exceptions import ObjectDoesNotExist, PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django_tenants.utils import tenant_context

from tenants import limits, services
from tenants.forms import LockoutAdminAuthenticationForm, SupportAccessForm, SuspendForm
from tenants.middleware import SUPPORT_PERMISSION
from tenants.models import ApiKey, Company, Domain, Invitation, Membership, Plan, SupportAccess, SupportAction, User

admin.site.login_form = LockoutAdminAuthenticationForm

# The admin session's live support accesses opened from the support pages: {company pk: access id}.
SUPPORT_ADMIN_SESSION_KEY = "support_admin_access"


class DomainInline(admin.TabularInline):
    model = Domain
    extra = 0


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "code",
        "max_members",
        "max_channels",
        "max_contacts",
        "max_messages_month",
        "max_ai_tokens_month",
    ]
    ordering = ["position", "code"]

    def get_readonly_fields(self, request, obj=None):
        return ["code"] if obj is not None else []

    def has_delete_permission(self, request, obj=None):
        return False  # companies point at plans (PROTECT); move them to another plan instead


@admin.register(Company)
class CompanyAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "plan", "member_count", "is_active", "created_at", "open_link"]
    list_filter = ["plan", "is_active", "locale"]
    search_fields = ["name", "slug", "schema_name"]
    readonly_fields = ["schema_name", "created_at", "status", "usage"]
    inlines = [DomainInline, MembershipInline]
    fieldsets = (
        (None, {"fields": ("name", "slug", "schema_name", "time_zone", "locale", "default_country", "created_at")}),
        (
            _("Plan and limits"),
            {
                "fields": (
                    "plan",
                    "usage",
                    "limit_members",
                    "limit_channels",
                    "limit_contacts",
                    "limit_messages_month",
                    "limit_ai_tokens_month",
                ),
                "description": _("An empty limit is the plan's. Set a number to override it for this company only."),
            },
        ),
        (_("Status and security"), {"fields": ("status", "require_mfa")}),
    )

    def get_readonly_fields(self, request, obj=None):
        fields = list(self.readonly_fields)
        if obj is not None:
            fields.append("slug")  # the schema and the domain are named after it
        return fields

    @admin.display(description=_("usage"))
    def usage(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        return render_to_string("admin/tenants/company_usage.html", {"usage": limits.usage_all(obj)})

    @admin.display(description=_("status"))
    def status(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        return render_to_string(
            "admin/tenants/company_status.html",
            {
                "company": obj,
                "suspend_url": reverse("admin:tenants_company_suspend", args=[obj.pk]),
                "reactivate_url": reverse("admin:tenants_company_reactivate", args=[obj.pk]),
            },
        )

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .exclude(schema_name="public")
            .annotate(member_count=Count("memberships", distinct=True))
        )

    @admin.display(description=_("members"), ordering="member_count")
    def member_count(self, obj):
        return obj.member_count

    @admin.display(description=_("support"))
    def open_link(self, obj):
        url = reverse("admin:tenants_company_open", args=[obj.pk])
        return format_html('<a class="button" href="{}">{}</a>', url, _("Open workspace"))

    def get_urls(self):
        extra = [
            path("<int:pk>/open/", self.admin_site.admin_view(self.open_workspace), name="tenants_company_open"),
            path("<int:pk>/suspend/", self.admin_site.admin_view(self.suspend_view), name="tenants_company_suspend"),
            path("<int:pk>/support/", self.admin_site.admin_view(self.support_view), name="tenants_company_support"),
            path(
                "<int:pk>/support/<slug:section>/",
                self.admin_site.admin_view(self.support_view),
                name="tenants_company_support_section",
            ),
            path(
                "<int:pk>/support/<slug:section>/<int:obj>/",
                self.admin_site.admin_view(self.support_view),
                name="tenants_company_support_detail",
            ),
            path(
                "<int:pk>/support/<slug:section>/<int:obj>/<slug:action>/",
                self.admin_site.admin_view(self.support_view),
                name="tenants_company_support_action",
            ),
            path(
                "<int:pk>/reactivate/",
                self.admin_site.admin_view(self.reactivate_view),
                name="tenants_company_reactivate",
            ),
        ]
        return extra + super().get_urls()

    def open_workspace(self, request, pk: int):
        """Ask why, write the audit row, then enter the workspace with a one-time ticket.
        Being staff is not enough: this needs the support permission (or superuser)."""
        if not request.user.has_perm(SUPPORT_PERMISSION):
            raise PermissionDenied
        company = get_object_or_404(Company, pk=pk)
        form = SupportAccessForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            access = services.support_access_open(
                staff=request.user,
                company=company,
                reason=form.cleaned_data["reason"],
                ip=request.META.get("REMOTE_ADDR"),
            )
            # Entered like any crossing, bound to this browser (tenants.views.workspace_open).
            query = urlencode({"support": services.support_ticket(access=access)})
            return HttpResponseRedirect(services.workspace_url(company, f"/auth/handoff/start/?{query}"))
        context = {
            **self.admin_site.each_context(request),
            "company": company,
            "form": form,
            "title": _("Open %(name)s for support") % {"name": company.name},
        }
        return render(request, "admin/tenants/open_workspace.html", context)

    # --- Support over the company's data (tenants.support sections) ---------------------------

    def _support_access(self, request, company: Company) -> SupportAccess | None:
        """The staff member's live support access to the company, opened from these pages
        (the reason step); None when there is none or it expired."""
        access_id = request.session.get(SUPPORT_ADMIN_SESSION_KEY, {}).get(str(company.pk))
        if not access_id:
            return None
        return SupportAccess.objects.filter(
            pk=access_id, staff=request.user, company=company, expires_at__gt=timezone.now()
        ).first()

    def support_view(self, request, pk: int, section: str = "", obj: int | None = None, action: str = ""):
        """Browse a company's data behind the audited reason step. Every page and action is
        written to the support audit log; the access ends with its window."""
        if not request.user.has_perm(SUPPORT_PERMISSION):
            raise PermissionDenied
        company = get_object_or_404(Company.objects.exclude(schema_name="public"), pk=pk)
        access = self._support_access(request, company)
        base = {**self.admin_site.each_context(request), "company": company, "opts": self.model._meta}
        if access is None:
            form = SupportAccessForm(request.POST if request.method == "POST" else None)
            if request.method == "POST" and form.is_valid():
                access = services.support_access_open(
                    staff=request.user,
                    company=company,
                    reason=form.cleaned_data["reason"],
                    ip=request.META.get("REMOTE_ADDR"),
                )
                request.session.setdefault(SUPPORT_ADMIN_SESSION_KEY, {})[str(company.pk)] = access.pk
                request.session.modified = True
                return HttpResponseRedirect(reverse("admin:tenants_company_support", args=[company.pk]))
            expired = bool(request.session.get(SUPPORT_ADMIN_SESSION_KEY, {}).get(str(company.pk)))
            context = {
                **base,
                "form": form,
                "expired": expired,
                "title": _("Support access to %(name)s") % {"name": company.name},
            }
            return render(request, "admin/tenants/support/reason.html", context)
        with tenant_context(company):
            response = self._support_page(request, company, access, base, section, obj, action)
            if hasattr(response, "render"):
                response = response.render()  # inside the company's schema: the template reads its rows
        SupportAction.objects.create(
            access=access, method=request.method[:10], path=request.get_full_path()[:500], status=response.status_code
        )
        return response

    def _support_page(self, request, company, access, base, key, obj, action):
        from tenants.support import PAGE_SIZE, section, sections

        context = {**base, "access": access, "sections": sections()}
        if not key:
            context["title"] = _("Support: %(name)s") % {"name": company.name}
            return TemplateResponse(request, "admin/tenants/support/index.html", context)
        current = section(key)
        if current is None:
            raise Http404
        context["section"] = current
        if action:
            chosen = next((a for a in current.actions if a.key == action), None)
            if chosen is None or request.method != "POST" or obj is None:
                raise Http404
            try:
                with transaction.atomic():
                    messages.success(request, chosen.run(obj, request.user))
            except ValidationError as exc:
                for text in exc.messages:
                    messages.error(request, text)
            except ObjectDoesNotExist as exc:
                raise Http404 from exc
            name = "admin:tenants_company_support_detail" if current.detail else "admin:tenants_company_support_section"
            args = [company.pk, key, obj] if current.detail else [company.pk, key]
            return HttpResponseRedirect(reverse(name, args=args))
        if obj is not None:
            detail = current.detail(obj) if current.detail else None
            if detail is None:
                raise Http404
            context.update({"detail": detail, "obj": obj, "title": f"{current.label}: {detail['title']}"})
            return TemplateResponse(request, "admin/tenants/support/detail.html", context)
        search = (request.GET.get("q") or "").strip()[:200]
        try:
            page = max(1, int(request.GET.get("page") or 1))
        except ValueError:
            page = 1
        rows = current.rows(search, (page - 1) * PAGE_SIZE, PAGE_SIZE + 1)
        context.update(
            {
                "title": f"{current.label}: {company.name}",
                "search": search,
                "page": page,
                "has_next": len(rows) > PAGE_SIZE,
                "rows": [
                    {"pk": row["pk"], "cells": [row.get(column) for column, _label in current.columns]}
                    for row in rows[:PAGE_SIZE]
                ],
            }
        )
        return TemplateResponse(request, "admin/tenants/support/list.html", context)

    def suspend_view(self, request, pk: int):
        """Ask why, then suspend (``tenants.services.company_suspend``)."""
        company = get_object_or_404(Company.objects.exclude(schema_name="public"), pk=pk)
        if not self.has_change_permission(request, company):
            raise PermissionDenied
        form = SuspendForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            services.company_suspend(company=company, reason=form.cleaned_data["reason"], by=request.user)
            self.log_change(request, company, _("Suspended: %(reason)s") % {"reason": form.cleaned_data["reason"]})
            messages.success(request, _("%(name)s is suspended.") % {"name": company.name})
            return HttpResponseRedirect(reverse("admin:tenants_company_change", args=[company.pk]))
        context = {
            **self.admin_site.each_context(request),
            "company": company,
            "form": form,
            "opts": self.model._meta,
            "title": _("Suspend %(name)s") % {"name": company.name},
        }
        return render(request, "admin/tenants/suspend.html", context)

    def reactivate_view(self, request, pk: int):
        company = get_object_or_404(Company.objects.exclude(schema_name="public"), pk=pk)
        if not self.has_change_permission(request, company) or request.method != "POST":
            raise PermissionDenied
        services.company_reactivate(company=company, by=request.user)
        self.log_change(request, company, _("Reactivated"))
        messages.success(request, _("%(name)s is active again.") % {"name": company.name})
        return HttpResponseRedirect(reverse("admin:tenants_company_change", args=[company.pk]))


@admin.register(Domain)
class DomainAdmin(admin.ModelAdmin):
    list_display = ["domain", "tenant", "is_primary"]
    search_fields = ["domain", "tenant__name"]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "full_name", "is_staff", "is_active", "date_joined"]
    search_fields = ["email", "full_name"]
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        (_("Profile"), {"fields": ("full_name", "language")}),
        (_("Permissions"), {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        (_("Dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
    inlines = [MembershipInline]

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data and not obj.is_active:
            services.user_tokens_revoke(user=obj)


@admin.register(Membership)
class MembershipAdmin(admin.ModelAdmin):
    list_display = ["user", "company", "role", "created_at"]
    list_filter = ["role"]
    search_fields = ["user__email", "company__name"]
    autocomplete_fields = ["user", "company"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["email", "company", "role", "created_at", "expires_at", "accepted_at", "revoked_at"]
    search_fields = ["email", "company__name"]
    exclude = ["token_hash"]

    def has_add_permission(self, request):
        return False  # invitations are sent by the company's admins, with a token only email knows


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "company", "prefix", "role", "created_at", "last_used_at", "revoked_at"]
    search_fields = ["name", "prefix", "company__name"]
    exclude = ["key_hash"]

    def has_add_permission(self, request):
        return False  # keys are created by the company's admins and shown to them once


class SupportActionInline(admin.TabularInline):
    model = SupportAction
    extra = 0
    fields = ("created_at", "method", "path", "status")
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(SupportAccess)
class SupportAccessAdmin(admin.ModelAdmin):
    """The audit log is append-only: nobody edits or deletes it from the admin."""

    list_display = ["created_at", "staff", "company", "reason", "ip_address", "expires_at"]
    list_filter = ["company"]
    search_fields = ["staff__email", "company__name", "reason"]
    inlines = [SupportActionInline]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
