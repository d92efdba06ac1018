"""Production: every store comes from the environment; nothing embedded."""

from .base import *  # noqa: F403
from .base import DATABASE_URL, REDIS_URL, configure_stores, env, env_bool

if not DATABASE_URL or not REDIS_URL:
    raise RuntimeError("DATABASE_URL and REDIS_URL must be set in production")
if SECRET_KEY.startswith("insecure"):  # noqa: F405
    raise RuntimeError("SECRET_KEY must be set in production")
if not env("FIELD_ENCRYPTION_KEYS"):
    raise RuntimeError("FIELD_ENCRYPTION_KEYS must be set in production")

DEBUG = False
globals().update(configure_stores(DATABASE_URL, REDIS_URL))
SESSION_COOKIE_DOMAIN = env("SESSION_COOKIE_DOMAIN") or f".{env('BASE_DOMAIN', 'localhost')}"
CSRF_COOKIE_DOMAIN = SESSION_COOKIE_DOMAIN
LANGUAGE_COOKIE_DOMAIN = SESSION_COOKIE_DOMAIN
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = int(env("SECURE_HSTS_SECONDS", "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
