"""What the Kanban app plugs into at start-up: the inbox's inbound hook, the due-work index,
navigation and demo data."""

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
    demo_company_ready.connect(_demo, dispatch_uid="kanban-demo")
