from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def _demo_cadence(sender, company, **kwargs):
    """The demo company gets an active follow-up cadence with a few enrolments."""
    from django_tenants.utils import tenant_context

    from cadences.demo import demo_cadence_setup

    with tenant_context(company):
        demo_cadence_setup()


class CadencesConfig(AppConfig):
    name = "cadences"
    verbose_name = _("Cadences")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from cadences.services import CADENCES
        from core import duework

        duework.register(CADENCES)
        from cadences import extensions

        extensions.register_kanban()
        from inbox import hooks

        hooks.register(hooks.ON_INBOUND_MESSAGE, "cadences.inbound")
        hooks.register(hooks.ON_MESSAGE_STATUS, "cadences.statuses")
        from tenants.roles import Role
        from tenants.signals import demo_company_ready
        from ui.navigation import NavItem, register

        register(
            NavItem(
                key="cadences",
                label=_("Cadences"),
                url_name="cadences:list",
                icon="clock",
                order=31,
                min_role=Role.AGENT,
            )
        )
        from ui import record_links

        record_links.register(
            "contacts",
            record_links.RecordLink(
                key="cadence-enrol",
                label=_("Enrol in a cadence"),
                url_name="cadences:enrol",
                icon="clock",
                min_role=Role.AGENT,
            ),
        )
        demo_company_ready.connect(_demo_cadence, dispatch_uid="cadences-demo")
