"""Helpers shared by browser tests."""

from __future__ import annotations

import threading


def run_committed(committed, fn):
    """Run ``fn`` for real (committed) in a thread of its own and return its result.

    Playwright keeps an event loop in the test thread, and Django refuses synchronous database
    work and ``async_to_sync`` in such a thread; a plain thread has neither problem.
    """
    result = {}

    def target():
        from django.db import connection

        try:
            result["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
            result["error"] = exc
        finally:
            connection.close()

    with committed():
        worker = threading.Thread(target=target)
        worker.start()
        worker.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


def log_in(committed, context, url_for, slug, email):
    """A new page of ``context`` logged in as ``email`` on company ``slug``, through a real
    session cookie (the login page has its own test)."""
    from django.conf import settings

    from tenants.models import User
    from tests.conftest_helpers import session_key_for

    key = run_committed(committed, lambda: session_key_for(User.objects.get(email=email)))
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": key, "url": url_for("/", slug=slug)}])
    return context.new_page()


def _live_campaign_cancel() -> None:
    """The demo's live campaign (``campaigns.demo_pages``) sends one message a second for about
    five minutes, and its ``campaigns.run`` task holds one of the shared browser worker's two
    threads for all that time (two of them hold both: nothing else runs). Its launch waits in
    the broker until a worker runs, in a later module or, with the reused database and Redis,
    a later run. No test watches it here: it is cancelled at once, so its queued launch finds
    it cancelled and sends nothing."""
    from campaigns.demo_pages import LIVE_CAMPAIGN
    from campaigns.models import OPEN_STATES, Campaign
    from campaigns.services import campaign_cancel

    for campaign in Campaign.objects.filter(name=LIVE_CAMPAIGN, state__in=OPEN_STATES):
        campaign_cancel(campaign=campaign)


def demo_like_company(committed, slug, email, *, password):
    """A company given every app's demo data (what ``bootstrap --demo`` gives the demo company),
    with ``email`` as its owner. Returns the ids of its first contact and conversation."""

    def setup():
        from allauth.account.models import EmailAddress
        from django_tenants.utils import schema_context

        from crm.models import Contact
        from inbox.models import Conversation
        from tenants.models import Company, User
        from tenants.services import company_create
        from tenants.signals import demo_company_ready

        user = User.objects.create_user(email=email, password=password, full_name="Dona Demo")
        EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
        company = company_create(name="Loja Demonstração", slug=slug, owner=user)
        demo_company_ready.send(sender=Company, company=company)
        with schema_context(company.schema_name):
            _live_campaign_cancel()
        with schema_context(company.schema_name):
            contact = Contact.objects.order_by("pk").values_list("pk", flat=True).first()
            conversation = Conversation.objects.order_by("pk").values_list("pk", flat=True).first()
        return {"slug": slug, "email": email, "contact": contact, "conversation": conversation}

    return run_committed(committed, setup)
