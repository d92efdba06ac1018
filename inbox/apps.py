from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def _demo_inbox(sender, company, **kwargs):
    """The demo company gets a connected sandbox number and a couple of conversations."""
    from django_tenants.utils import tenant_context

    from inbox.demo import demo_inbox_setup

    with tenant_context(company):
        demo_inbox_setup()


class InboxConfig(AppConfig):
    name = "inbox"
    verbose_name = _("Inbox")

    def ready(self):
        from inbox.support import register_sections

        register_sections()
        from inbox import selectors as inbox_selectors
        from tenants import limits

        limits.register_counter(limits.CHANNELS, inbox_selectors.channels_connected_query)
        limits.register_counter(limits.MESSAGES, inbox_selectors.messages_sent_query)
        from tenants.roles import Role
        from tenants.signals import demo_company_ready
        from ui.navigation import NavItem, register

        register(
            NavItem(key="inbox", label=_("Inbox"), url_name="inbox:inbox", icon="chat-bubble-left-right", order=20)
        )
        register(
            NavItem(
                key="channels",
                label=_("Channels"),
                url_name="inbox:channels",
                icon="device-phone-mobile",
                order=15,
                min_role=Role.VIEWER,
                section="settings",
            )
        )
        demo_company_ready.connect(_demo_inbox, dispatch_uid="inbox-demo")
