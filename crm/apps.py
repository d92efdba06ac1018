from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def _demo_contacts(sender, company, **kwargs):
    """The demo company gets a few hundred realistic Brazilian contacts (idempotent)."""
    from django_tenants.utils import tenant_context

    from crm.demo import demo_contacts_setup

    with tenant_context(company):
        demo_contacts_setup()


class CrmConfig(AppConfig):
    name = "crm"
    verbose_name = _("CRM")

    def ready(self):
        from crm.support import register_sections

        register_sections()
        from crm.selectors import contacts_count_query
        from tenants import limits

        limits.register_counter(limits.CONTACTS, contacts_count_query)
        from tenants.roles import Role
        from tenants.signals import demo_company_ready
        from ui.navigation import NavItem, register

        register(NavItem(key="contacts", label=_("Contacts"), url_name="crm:contacts", icon="users", order=30))
        register(
            NavItem(
                key="audiences", label=_("Lists and segments"), url_name="crm:audiences", icon="queue-list", order=31
            )
        )
        register(
            NavItem(
                key="imports",
                label=_("Imports"),
                url_name="crm:imports",
                icon="arrow-up-tray",
                order=32,
                min_role=Role.AGENT,
            )
        )
        register(
            NavItem(
                key="crm-settings",
                label=_("Contacts and opt-out"),
                url_name="crm:settings",
                icon="identification",
                order=30,
                min_role=Role.ADMIN,
                section="settings",
            )
        )
        demo_company_ready.connect(_demo_contacts, dispatch_uid="crm-demo")
