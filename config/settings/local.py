"""Development: embedded PostgreSQL and Redis unless DATABASE_URL / REDIS_URL are set."""

from config.embedded import service_urls

from .base import *  # noqa: F403
from .base import configure_stores, env

DEBUG = env("DEBUG", "1") not in {"0", "false", "False"}
EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
_database_url, _redis_url = service_urls()
globals().update(configure_stores(_database_url, _redis_url))
WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
