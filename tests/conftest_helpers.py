"""Constants and helpers shared by tests (importable, unlike conftest.py)."""

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
