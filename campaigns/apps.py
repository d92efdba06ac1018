from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def _demo_campaigns(sender, company, **kwargs):
    """The demo company gets a finished sandbox campaign with delivered and read counts
    (``campaigns.demo``), more templates, a scheduled campaign and one that sends live, slowly,
    once the worker runs (``campaigns.demo_pages``)."""
    from django_tenants.utils import tenant_context

    from campaigns.demo import demo_campaigns_setup
    from campaigns.demo_pages import demo_live_campaign_setup, demo_pages_setup

    with tenant_context(company):
        demo_campaigns_setup()
        demo_pages_setup()
        demo_live_campaign_setup()


def _composer_templates(request, conversation, window_open):
    """The inbox composer's template picker button (``inbox.extensions``)."""
    from campaigns.views_inbox import composer_button

    return composer_button(request, conversation, window_open)


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
        from tenants.roles import Role
        from tenants.signals import company_reactivated, company_suspended, demo_company_ready
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
        from inbox.extensions import register_composer_section

        register_composer_section("templates", _composer_templates)
        demo_company_ready.connect(_demo_campaigns, dispatch_uid="campaigns-demo")
        company_suspended.connect(_company_suspended, dispatch_uid="campaigns-suspended")
        company_reactivated.connect(_company_reactivated, dispatch_uid="campaigns-reactivated")
