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
