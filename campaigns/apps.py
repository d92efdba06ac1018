from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def _demo_campaigns(sender, company, **kwargs):
    """The demo company gets a finished sandbox campaign with delivered and read counts."""
    from django_tenants.utils import tenant_context

    from campaigns.demo import demo_campaigns_setup

    with tenant_context(company):
        demo_campaigns_setup()


def _company_suspended(sender, company, **kwargs):
    from django_tenants.utils import tenant_context

    from campaigns.services import campaigns_pause_for_suspension

    with tenant_context(company):
        campaigns_pause_for_suspension()


def _company_reactivated(sender, company, **kwargs):
    from django_tenants.utils import tenant_context

    from campaigns.services import campaigns_resume_after_suspension

    with tenant_context(company):
        campaigns_resume_after_suspension()


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self):
        from campaigns.support import register_sections

        register_sections()
        from campaigns import hooks
        from tenants.signals import company_reactivated, company_suspended, demo_company_ready

        hooks.register()
        demo_company_ready.connect(_demo_campaigns, dispatch_uid="campaigns-demo")
        company_suspended.connect(_company_suspended, dispatch_uid="campaigns-suspended")
        company_reactivated.connect(_company_reactivated, dispatch_uid="campaigns-reactivated")
