"""The price table support staff keep (public schema, edited in the admin).

Meta charges per delivered template message since July 2025, by template category and by the
recipient's country, and no API returns the price; SMS providers charge per segment. The
campaign estimate multiplies the audience by the price in force for each (kind, category,
country); countries without a row fall back to the ``"*"`` row of the same kind and category.
"""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from tenants.models import Company


class PriceKind(models.TextChoices):
    WHATSAPP = "whatsapp", _("WhatsApp (per delivered template)")
    SMS = "sms", _("SMS (per segment)")


class PriceCategory(models.TextChoices):
    MARKETING = "MARKETING", _("Marketing")
    UTILITY = "UTILITY", _("Utility")
    AUTHENTICATION = "AUTHENTICATION", _("Authentication")
    SERVICE = "SERVICE", _("Service (inside the 24-hour window)")
    SMS = "SMS", _("SMS segment")


ANY_COUNTRY = "*"


class MessagePrice(models.Model):
    kind = models.CharField(_("kind"), max_length=10, choices=PriceKind.choices, default=PriceKind.WHATSAPP)
    category = models.CharField(
        _("category"), max_length=16, choices=PriceCategory.choices, default=PriceCategory.MARKETING
    )
    # ISO 3166-1 alpha-2 of the recipient's number ("BR"), or "*" for every other country.
    country = models.CharField(_("country"), max_length=2, default="BR")
    price = models.DecimalField(_("price"), max_digits=10, decimal_places=5, default=Decimal("0"))
    currency = models.CharField(_("currency"), max_length=3, default="BRL")
    valid_from = models.DateField(_("valid from"), default=timezone.localdate)
    notes = models.CharField(_("notes"), max_length=255, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("message price")
        verbose_name_plural = _("message prices")
        ordering = ["kind", "category", "country", "-valid_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "category", "country", "valid_from"], name="campaign_pricing_unique_from"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.category} {self.country}: {self.price} {self.currency}"


class CompanyCampaigns(Company):
    """Companies as the support admin's campaigns overview lists them (no table of its own):
    their templates and campaigns are read inside each company's schema."""

    class Meta:
        proxy = True
        verbose_name = _("company campaigns")
        verbose_name_plural = _("companies' campaigns")
