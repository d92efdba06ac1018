from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class InboxConfig(AppConfig):
    name = "inbox"
    verbose_name = _("Inbox")

    def ready(self):
        from tenants.navigation import NavItem, register

        register(NavItem(key="inbox", label=_("Inbox"), url_name="inbox", icon="chat-bubble-left-right", order=20))
