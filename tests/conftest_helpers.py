"""Constants and helpers shared by tests (importable, unlike conftest.py)."""

import pytest

TEST_PASSWORD = "correct-horse-battery-staple"


def session_key_for(user) -> str:
    """A saved, logged-in session of ``user`` (for a browser cookie or a websocket's headers),
    without going through the login page, which has tests of its own."""
    from django.contrib.sessions.backends.db import SessionStore

    session = SessionStore()
    session["_auth_user_id"] = str(user.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = user.get_session_auth_hash()
    session.create()
    assert session.session_key is not None
    return session.session_key


class QueuedTask:
    """A task message as Celery put it on the broker: ``name``, ``args``, ``kwargs``, ``eta``."""

    def __init__(self, message: dict):
        import base64
        import json

        args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        self.name: str = message["headers"]["task"]
        self.args: list = args
        self.kwargs: dict = kwargs
        self.eta: str | None = message["headers"].get("eta")

    def __repr__(self) -> str:
        return f"QueuedTask({self.name!r}, {self.args!r}, {self.kwargs!r}, eta={self.eta!r})"


class BrokerQueue:
    """The real broker's default queue (a Redis list; no worker runs in tests, so what is queued
    stays there): ``clear()`` before the test, then ``tasks()`` in the order they were queued."""

    QUEUE = "celery"

    def __init__(self, url: str):
        import redis

        self.client = redis.Redis.from_url(url)

    def clear(self) -> None:
        self.client.delete(self.QUEUE)

    def tasks(self, name: str | None = None) -> list[QueuedTask]:
        import json

        # Kombu pushes on the left and workers pop on the right: the oldest is last.
        queued = [QueuedTask(json.loads(raw)) for raw in reversed(self.client.lrange(self.QUEUE, 0, -1))]
        return [t for t in queued if name is None or t.name == name]


class QueryCount:
    """Counts the queries of one request, the way the project's N+1 tests want them: without
    django-tenants' ``SET search_path`` before each query, so the number is the page's own.

    ``query_count.of(client, url)`` -> int; ``query_count.does_not_grow(client, url, grow=...,
    most=N)`` counts, calls ``grow()`` (more rows), counts again and asserts ``few == many <= N``:
    it catches growth with the data, not just a ceiling.
    """

    def of(self, client, url: str, **extra) -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as captured:
            response = client.get(url, **extra)
        assert response.status_code == 200, response.status_code
        return sum(1 for q in captured.captured_queries if not q["sql"].startswith("SET search_path"))

    def does_not_grow(self, client, url: str, *, grow, most: int, **extra) -> int:
        few = self.of(client, url, **extra)
        grow()
        many = self.of(client, url, **extra)
        assert many == few <= most, f"{few} queries before, {many} after more rows (at most {most})"
        return few


@pytest.fixture
def query_count() -> QueryCount:
    return QueryCount()
