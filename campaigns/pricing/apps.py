from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignPricingConfig(AppConfig):
    """The price table lives in the public schema (one table for every company), so it is a
    shared app of its own inside ``campaigns``, which is a tenant app."""

    name = "campaigns.pricing"
    label = "campaign_pricing"
    verbose_name = _("Message prices")
