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
