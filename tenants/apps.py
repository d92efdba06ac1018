from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TenantsConfig(AppConfig):
    name = "tenants"
    verbose_name = _("Companies and accounts")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from allauth.socialaccount.signals import social_account_added

        from tenants import receivers

        # A login method added to the account: the API tokens issued before it are revoked.
        social_account_added.connect(receivers.social_account_added, dispatch_uid="tenants.social_account_added")

        from tenants.roles import Role
        from ui.navigation import NavItem, register

        # The workspace's own entries; domain apps (crm, inbox, ...) register theirs.
        register(NavItem("dashboard", _("Dashboard"), "tenants:dashboard", "home", order=0))
        register(
            NavItem("company", _("Company"), "tenants:company-profile", "building-office-2", 10, Role.ADMIN, "settings")
        )
        register(NavItem("members", _("Members"), "tenants:members", "users", 20, Role.VIEWER, "settings"))
        register(NavItem("api-keys", _("API keys"), "tenants:api-keys", "key", 30, Role.ADMIN, "settings"))
        register(NavItem("profile", _("Your profile"), "tenants:profile", "user-circle", 40, Role.VIEWER, "settings"))

        from tenants.support_sections import register_sections

        register_sections()
