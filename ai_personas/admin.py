"""Support staff's view of every company's AI: provider, personas, knowledge, this month's
tokens against the budget. The admin runs on the public domain, where company tables do not
exist, so this is a read-only list of companies (a proxy model) whose columns are read inside
each company's schema; secrets (the API key) are never shown."""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from django_tenants.utils import schema_context

from ai_personas.models import CompanyAI
from tenants.admin_overview import CompanyOverviewAdmin


def _summary(company) -> dict:
    cache = getattr(company, "_ai_summary", None)
    if cache is not None:
        return cache
    from ai_personas.llm import company_endpoint
    from ai_personas.models import Document, DocumentStatus, Persona
    from ai_personas.usage import month_tokens

    with schema_context(company.schema_name):
        endpoint = company_endpoint()
        cache = {
            "personas": Persona.objects.filter(is_active=True).count(),
            "documents": Document.objects.count(),
            "failed": Document.objects.filter(status=DocumentStatus.FAILED).count(),
            "tokens": month_tokens(),
            "budget": endpoint.monthly_budget,
            "provider": endpoint.base_url,
            "chat_model": endpoint.chat_model,
            "embedding_model": endpoint.embedding_model,
        }
    company._ai_summary = cache
    return cache


@admin.register(CompanyAI)
class CompanyAIAdmin(CompanyOverviewAdmin):
    list_display = ("name", "provider", "models", "personas", "documents", "tokens_month")

    @admin.display(description=_("provider"))
    def provider(self, obj):
        return _summary(obj)["provider"]

    @admin.display(description=_("models"))
    def models(self, obj):
        s = _summary(obj)
        return f"{s['chat_model']} / {s['embedding_model']}"

    @admin.display(description=_("active personas"))
    def personas(self, obj):
        return _summary(obj)["personas"]

    @admin.display(description=_("documents (failed)"))
    def documents(self, obj):
        s = _summary(obj)
        return f"{s['documents']} ({s['failed']})"

    @admin.display(description=_("tokens this month / budget"))
    def tokens_month(self, obj):
        s = _summary(obj)
        return f"{s['tokens']:,} / {s['budget']:,}" if s["budget"] else f"{s['tokens']:,} / ∞"
