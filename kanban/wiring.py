"""What the Kanban app plugs into at start-up: the inbox's inbound hook, the due-work index,
navigation, the "Create card(s)" links of the CRM and the inbox, and demo data."""

from __future__ import annotations

AI_DUE_KIND = "kanban_ai"


def _demo(sender, company, **kwargs):
    from django_tenants.utils import tenant_context

    from kanban.demo import demo_kanban_setup

    with tenant_context(company):
        demo_kanban_setup()


def connect() -> None:
    from django.utils.translation import gettext_lazy as _

    from core import duework
    from inbox import hooks as inbox_hooks
    from tenants.signals import demo_company_ready
    from ui.navigation import NavItem, register

    inbox_hooks.register(inbox_hooks.ON_INBOUND_MESSAGE, "kanban.inbound")
    duework.register(AI_DUE_KIND)
    register(NavItem(key="kanban", label=_("Pipelines"), url_name="kanban:boards", icon="view-columns", order=25))
    from tenants.roles import Role
    from ui import record_links

    # "Create card(s)" on the CRM's contact list (its selection or "all N matching"), a
    # contact's page and a conversation's panel: the CRM and the inbox import nothing of ours.
    for kind, key, label in (
        ("contacts", "kanban-cards", _("Create cards")),
        ("contact", "kanban-card", _("Create card")),
        ("conversation", "kanban-card", _("Create card")),
    ):
        record_links.register(
            kind,
            record_links.RecordLink(
                key=key, label=label, url_name="kanban:cards-create", icon="view-columns", min_role=Role.AGENT
            ),
        )
    demo_company_ready.connect(_demo, dispatch_uid="kanban-demo")
