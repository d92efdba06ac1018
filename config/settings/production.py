"""Production: every store comes from the environment; nothing embedded; no known secret."""

from .base import *  # noqa: F403
from .base import DATABASE_URL, REDIS_URL, SIMPLE_JWT, configure_stores, env, env_bool

# Secrets anyone can read (the repository's examples and development and test values). With
# the SECRET_KEY known, anyone can sign a handoff ticket and log in as any user.
KNOWN_SECRETS = {
    "change-me-to-a-long-random-string",
    "insecure-development-key-change-me",
    "test-secret-key-that-is-long-enough-for-hs256-jwt",
    "build",
}
KNOWN_ENCRYPTION_KEYS = {
    b"development-key-not-for-prod-32b",
}


def refuse_weak_secret(name: str, value: str) -> None:
    """Django's own rule for a secret key (``check --deploy``, W009: 50 characters, 5 distinct,
    no ``django-insecure-`` prefix), plus the values published in this repository."""
    lowered = value.lower()
    if (
        len(value) < 50
        or len(set(value)) < 5
        or value in KNOWN_SECRETS
        or lowered.startswith(("insecure", "django-insecure-"))
        or "change-me" in lowered
        or "changeme" in lowered
    ):
        raise RuntimeError(
            f"{name} must be set in production to a long random value (at least 50 characters), "
            "not an example: python -c 'import secrets; print(secrets.token_urlsafe(50))'"
        )


def refuse_weak_key_ring(spec: str) -> None:
    """Parse the key ring now (a bad one used to fail at the first encrypted field, as a 500)."""
    from tenants.crypto import parse_key_ring

    try:
        ring = parse_key_ring(spec)
    except (ValueError, TypeError) as exc:
        raise RuntimeError(f"FIELD_ENCRYPTION_KEYS is not a valid key ring: {exc}") from None
    for kid, key in ring.keys.items():
        if key in KNOWN_ENCRYPTION_KEYS or len(set(key)) < 8:
            raise RuntimeError(f"FIELD_ENCRYPTION_KEYS: key {kid!r} is an example, not 32 random bytes")


if not DATABASE_URL or not REDIS_URL:
    raise RuntimeError("DATABASE_URL and REDIS_URL must be set in production")
refuse_weak_secret("SECRET_KEY", env("SECRET_KEY"))
if not env("FIELD_ENCRYPTION_KEYS"):
    raise RuntimeError("FIELD_ENCRYPTION_KEYS must be set in production")
refuse_weak_key_ring(env("FIELD_ENCRYPTION_KEYS"))
if env("JWT_SIGNING_KEY"):
    # A key of their own for API tokens (rotating it logs every API client out, nothing else).
    refuse_weak_secret("JWT_SIGNING_KEY", env("JWT_SIGNING_KEY"))
    SIMPLE_JWT = {**SIMPLE_JWT, "SIGNING_KEY": env("JWT_SIGNING_KEY")}

DEBUG = False
globals().update(configure_stores(DATABASE_URL, REDIS_URL))
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
LANGUAGE_COOKIE_SECURE = SESSION_COOKIE_SECURE
if SESSION_COOKIE_SECURE:
    # The __Host- prefix makes browsers refuse these cookies unless they are host-only, Secure
    # and for "/": a page on another subdomain cannot plant its own session or CSRF cookie here
    # (cookie tossing), on a company host or on the admin's.
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
# HTTPS is known from the ASGI scope: uvicorn sets the scheme from X-Forwarded-Proto only for
# the proxies in FORWARDED_ALLOW_IPS (no SECURE_PROXY_SSL_HEADER: any client can send that header).
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
SECURE_HSTS_SECONDS = int(env("SECURE_HSTS_SECONDS", "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
