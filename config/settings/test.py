"""Tests: same embedded servers as development, separate Redis databases, fast hashing."""

from config.embedded import checkout_port, service_urls

from .base import *  # noqa: F403
from .base import SOCIALACCOUNT_PROVIDERS, configure_stores

DEBUG = False
SECRET_KEY = "test-secret-key-that-is-long-enough-for-hs256-jwt"
_database_url, _redis_url = service_urls()
# Redis databases 8-11 keep tests away from a development run's data, and 12-15 keep
# ``make bench`` (MASTERIA_BENCH, set for the benchmarks and their server processes) away from
# the tests: a benchmark's Celery worker took the tests' queued tasks, and its flushes their keys.
globals().update(configure_stores(_database_url, _redis_url, redis_offset=12 if env("MASTERIA_BENCH") else 8))
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
# pytest-django creates and drops the test database on plain connections; a pool per process
# would keep connections to it open.
DATABASES["default"]["OPTIONS"].pop("pool", None)  # noqa: F405
DATABASES["default"]["TEST"] = {"NAME": "test_masteria"}  # noqa: F405
if env("LIVE_TEST_DATABASE"):
    # The browser tests' server process works on the database pytest created.
    DATABASES["default"]["NAME"] = "test_masteria"  # noqa: F405
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
CELERY_TASK_ALWAYS_EAGER = False
FIELD_ENCRYPTION_KEYS = (
    "k2:" + "MjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjI=" + ",k1:" + ("MTExMTExMTExMTExMTExMTExMTExMTExMTExMTExMTE=")
)
# Loopback stand-ins for the OAuth providers (tests/stubs/oauth.py serves them), on a port of
# this checkout's, so two checkouts can run their tests at once.
OAUTH_STUB_PORT = checkout_port(1)
OAUTH_STUB = f"http://127.0.0.1:{OAUTH_STUB_PORT}"
SOCIALACCOUNT_PROVIDERS["google"].update(
    {
        "ACCESS_TOKEN_URL": f"{OAUTH_STUB}/google/token",
        "AUTHORIZE_URL": f"{OAUTH_STUB}/google/authorize",
        "IDENTITY_URL": f"{OAUTH_STUB}/google/userinfo",
        "CERTS_URL": f"{OAUTH_STUB}/google/certs",
        "APPS": [{"client_id": "google-client", "secret": "google-secret", "key": ""}],
    }
)
SOCIALACCOUNT_PROVIDERS["facebook"].update(
    {
        "GRAPH_API_URL": f"{OAUTH_STUB}/facebook",
        "AUTHORIZE_URL": f"{OAUTH_STUB}/facebook/dialog/oauth",
        "APPS": [{"client_id": "fb-app", "secret": "fb-secret", "key": ""}],
    }
)
LOGIN_FAILED_RATE = "5/5m/key,30/5m/ip"
ACCOUNT_RATE_LIMITS = {"login_failed": None}

# Tests log staff in with force_login (no second factor); the tests of the requirement turn it on.
MFA_REQUIRED_FOR_STAFF = False
