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
        from tenants.roles import Role
        from tenants.signals import demo_company_ready
        from ui.navigation import NavItem, register

        register(NavItem(key="campaigns", label=_("Campaigns"), url_name="campaigns:list", icon="megaphone", order=40))
        register(
            NavItem(
                key="templates",
                label=_("Message templates"),
                url_name="campaigns:templates",
                icon="document-text",
                order=41,
                min_role=Role.VIEWER,
            )
        )
        hooks.register()
        demo_company_ready.connect(_demo_campaigns, dispatch_uid="campaigns-demo")
