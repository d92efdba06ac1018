from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


def _demo_personas(sender, company, **kwargs):
    """The demo company gets a persona answering from a small help-centre knowledge base."""
    from django_tenants.utils import tenant_context

    from ai_personas.demo import demo_personas_setup

    with tenant_context(company):
        demo_personas_setup()


class AiPersonasConfig(AppConfig):
    name = "ai_personas"
    verbose_name = _("AI personas")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from ai_personas.support import register_sections

        register_sections()
        from ai_personas.selectors import ai_tokens_query
        from tenants import limits

        limits.register_counter(limits.AI_TOKENS, ai_tokens_query)
        from ai_personas import tools
        from tenants.roles import Role
        from tenants.signals import demo_company_ready
        from ui.navigation import NavItem, register

        register(
            NavItem(
                key="ai-personas", label=_("AI personas"), url_name="ai_personas:personas", icon="sparkles", order=40
            )
        )
        register(
            NavItem(
                key="ai-knowledge",
                label=_("Knowledge"),
                url_name="ai_personas:knowledge",
                icon="document-text",
                order=41,
                min_role=Role.AGENT,
            )
        )
        register(
            NavItem(
                key="ai-settings",
                label=_("AI provider"),
                url_name="ai_personas:settings",
                icon="cpu-chip",
                order=40,
                min_role=Role.ADMIN,
                section="settings",
            )
        )
        tools.register_builtin_tools()
        demo_company_ready.connect(_demo_personas, dispatch_uid="ai-personas-demo")
        self._connect_inbox()

    def _connect_inbox(self):
        """Fill the inbox's upward hooks (inbound message, agent activity) and its panel
        extension, where the inbox offers them. Each hook only queues a task by name."""
        from ai_personas import hooks

        hooks.connect()
