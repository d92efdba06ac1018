from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def _demo_campaigns(sender, company, **kwargs):
    """The demo company gets a finished sandbox campaign with delivered and read counts."""
    from django_tenants.utils import tenant_context

    from campaigns.demo import demo_campaigns_setup

    with tenant_context(company):
        demo_campaigns_setup()


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self):
        from campaigns import hooks
        from tenants.signals import demo_company_ready

        hooks.register()
        demo_company_ready.connect(_demo_campaigns, dispatch_uid="campaigns-demo")
