"""Settings shared by every environment. Values come from the environment (12-factor)."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


def database_from_url(url: str) -> dict:
    """Parse ``postgresql://user:pass@host:port/name?host=/socket/dir`` for django-tenants."""
    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    host = query.get("host", [parsed.hostname or ""])[0]
    return {
        "ENGINE": "django_tenants.postgresql_backend",
        "NAME": unquote(parsed.path.lstrip("/")) or "postgres",
        "USER": unquote(parsed.username or ""),
        "PASSWORD": unquote(parsed.password or ""),
        "HOST": host,
        "PORT": str(parsed.port or ""),
        **database_connections(),
        "OPTIONS": {
            **({"sslmode": query["sslmode"][0]} if "sslmode" in query else {}),
            **database_pool_options(),
        },
    }


def database_pool_options() -> dict:
    """Each process keeps a pool of open connections (psycopg_pool, ``DB_POOL_MAX_SIZE``, 0 to
    turn it off). A pool rather than persistent connections (``CONN_MAX_AGE``): Django's ASGI
    handler runs every request's synchronous code in a thread of its own, so a persistent
    connection is opened per request and never reused; at a few dozen concurrent requests the
    server refuses new clients. A request gives its connection back to the pool when it ends."""
    max_size = int(env("DB_POOL_MAX_SIZE", "20"))
    if max_size <= 0:
        return {}
    min_size = min(int(env("DB_POOL_MIN_SIZE", "2")), max_size)
    return {"pool": {"min_size": min_size, "max_size": max_size, "timeout": float(env("DB_POOL_TIMEOUT", "10"))}}


def database_connections() -> dict:
    # Pooled connections are returned at the end of each request or task, never kept by it.
    pooled = bool(database_pool_options())
    return {"CONN_MAX_AGE": 0 if pooled else int(env("DB_CONN_MAX_AGE", "60")), "CONN_HEALTH_CHECKS": True}


def redis_db(url: str, number: int) -> str:
    """The Redis URL with its database number replaced (one server, separate uses)."""
    parsed = urlparse(url)
    return parsed._replace(path=f"/{number}").geturl()


SECRET_KEY = env("SECRET_KEY", "insecure-development-key-change-me")
DEBUG = env_bool("DEBUG", False)

BASE_DOMAIN = env("BASE_DOMAIN", "localhost")
SITE_SCHEME = env("SITE_SCHEME", "http")
SITE_PORT = env("SITE_PORT", "8000")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS") or [BASE_DOMAIN, f".{BASE_DOMAIN}", "127.0.0.1"]

# --- Applications -----------------------------------------------------------------------
# The public schema holds companies, users, memberships, sessions, auth and routing tables.
SHARED_APPS = [
    "django_tenants",
    "ui",
    "tenants",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.admin",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.google",
    "allauth.socialaccount.providers.facebook",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "channels",
    # The message price table support staff edit (one for all companies).
    "campaigns.pricing",
    # No models: installed for its translation catalog (its API messages in pt-BR).
    "rest_framework_simplejwt",
]
# Every company schema holds these (each domain app adds itself here).
TENANT_APPS = [
    "django.contrib.contenttypes",
    "crm",
    "inbox",
    "campaigns",
    "ai_personas",
    "cadences",
    "kanban",
]
INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenants.Company"
TENANT_DOMAIN_MODEL = "tenants.Domain"
PUBLIC_SCHEMA_URLCONF = "config.urls_public"
ROOT_URLCONF = "config.urls_tenant"
# New companies get their schema by replaying the SQL of a migrated template schema, generated
# from pg_catalog once per migration state (tenants/schemas.py): about 0.1 s whatever the number
# of companies. Not django-tenants' clone_schema() (TENANT_BASE_SCHEMA stays unset): it looks
# every column up in information_schema across the whole database, 190 s per company at 300
# companies (measured); nor running every migration (1-4 s, more with each migration).
TENANT_TEMPLATE_SCHEMA = "tenant_template"
TENANT_BASE_SCHEMA = None
TENANT_CREATION_FAKES_MIGRATIONS = False
# django-tenants sends ``SET search_path`` once per connection and schema instead of before every
# query (half of a page's round trips did nothing else). It is sent again after set_tenant, a
# rollback (to a savepoint too: the database drops the SET with it) and a reconnection, so a
# connection handed back to the pool, or a transaction that failed, never keeps a stale one.
TENANT_LIMIT_SET_CALLS = True
DATABASE_ROUTERS = ("django_tenants.routers.TenantSyncRouter",)
AUTH_USER_MODEL = "tenants.User"

MIDDLEWARE = [
    "tenants.middleware.HealthCheckMiddleware",
    "django_tenants.middleware.main.TenantMainMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "core.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "tenants.middleware.CompanyLocaleMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "core.middleware.RefuseNulMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "ui.htmx.HtmxMessagesMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "tenants.middleware.MembershipMiddleware",
    "tenants.middleware.MfaRequiredMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "tenants.context_processors.workspace",
            ],
        },
    }
]

ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = "config.wsgi.application"

# --- Data stores ----------------------------------------------------------------------------
# Local and test settings fill these from the embedded servers when the variables are unset.
DATABASE_URL = env("DATABASE_URL")
REDIS_URL = env("REDIS_URL")


def configure_stores(database_url: str, redis_url: str, redis_offset: int = 0) -> dict:
    """Settings that depend on the database and Redis URLs (called by each settings module)."""
    return {
        "DATABASES": {"default": database_from_url(database_url)},
        "CACHES": {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": redis_db(redis_url, 1 + redis_offset),
                # Every key carries the schema of the tenant that wrote it.
                "KEY_FUNCTION": "django_tenants.cache.make_key",
                "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key",
            }
        },
        "CHANNEL_LAYERS": {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {
                    # redis-py 8 defaults: a 5 s read timeout (the same 5 s channels_redis
                    # blocks in BZPOPMIN, so idle websockets crashed with "Timeout reading")
                    # and a pool of 100 connections (a burst of sockets joining or leaving
                    # groups failed with "Too many connections").
                    "hosts": [
                        {
                            "address": redis_db(redis_url, 2 + redis_offset),
                            "socket_timeout": 30,
                            "max_connections": 1000,
                        }
                    ],
                    "capacity": 1000,
                    "expiry": 30,
                },
            }
        },
        "CELERY_BROKER_URL": redis_db(redis_url, 0 + redis_offset),
        "CELERY_RESULT_BACKEND": None,
        "REDIS_APP_URL": redis_db(redis_url, 3 + redis_offset),
    }


# --- Celery -----------------------------------------------------------------------------------
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
# The one place where periodic work is declared.
CELERY_BEAT_SCHEDULE: dict = {}
# Inbox: Meta token expiry checks (debug_token, 7-day warning), snoozed conversations, and a
# sweep for webhook events left unprocessed (e.g. a worker died mid-batch).
CELERY_BEAT_SCHEDULE["inbox-check-channel-tokens"] = {"task": "inbox.check_channel_tokens", "schedule": 6 * 3600}
CELERY_BEAT_SCHEDULE["inbox-wake-snoozed"] = {"task": "inbox.wake_snoozed", "schedule": 60}
CELERY_BEAT_SCHEDULE["inbox-webhook-sweep"] = {"task": "inbox.webhook_drain_all", "schedule": 120}
CELERY_BEAT_SCHEDULE["inbox-prune-logs"] = {"task": "inbox.prune_logs", "schedule": 24 * 3600}
# Accounts: the records of expired refresh tokens (each refresh adds one).
CELERY_BEAT_SCHEDULE["tenants-tokens-flush-expired"] = {"task": "tenants.tokens_flush_expired", "schedule": 24 * 3600}
# Campaigns: scheduled starts (also after a restart), send windows, lease reconciliation, A/B
# winners and completion.
CELERY_BEAT_SCHEDULE["campaigns-tick"] = {"task": "campaigns.tick", "schedule": 5}
# CRM: forget bulk operations (and deleted contacts kept for undo) after their undo window.
CELERY_BEAT_SCHEDULE["crm-bulk-operations-purge"] = {"task": "crm.bulk_operations_purge_all", "schedule": 600}
# AI personas: a safety net for replies whose countdown task was lost (a worker restarted).
CELERY_BEAT_SCHEDULE["ai-replies-sweep"] = {"task": "ai_personas.replies_sweep_all", "schedule": 60}
# Cadences: due enrolments handed to the campaign engine, contact changes, fresh send outcomes.
CELERY_BEAT_SCHEDULE["cadences-tick"] = {"task": "cadences.tick", "schedule": 5}
# Kanban: the AI reads conversations of cards whose debounce is over (due-work index).
CELERY_BEAT_SCHEDULE["kanban-ai-sweep"] = {"task": "kanban.ai_sweep_all", "schedule": 30}

# --- Auth -------------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/"
ACCOUNT_LOGOUT_REDIRECT_URL = "/"
# Two-factor authentication (django-allauth's MFA): an authenticator app (TOTP) and recovery
# codes. Optional for members, required for staff to use the admin (MFA_REQUIRED_FOR_STAFF),
# and required for every member of a company whose owner asks for it (Company.require_mfa).
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Master IA"
MFA_REQUIRED_FOR_STAFF = env_bool("MFA_REQUIRED_FOR_STAFF", True)
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = env("ACCOUNT_EMAIL_VERIFICATION", "optional")
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_SESSION_REMEMBER = None
ACCOUNT_SIGNUP_FORM_CLASS = "tenants.forms.CompanySignupForm"
ACCOUNT_ADAPTER = "tenants.adapters.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "tenants.adapters.SocialAccountAdapter"
# Brute-force protection: one lockout for the login form on every host, /admin/login/ and the
# API token endpoint (tenants.lockout): failed logins per account (key) and, looser, per client
# address (ip). allauth's own counters (per host) are off.
LOGIN_FAILED_RATE = env("LOGIN_FAILED_RATE", "5/5m/key,30/5m/ip")
ACCOUNT_RATE_LIMITS = {
    "login_failed": None,
    "signup": "20/h/ip",
    "reset_password": "20/m/ip,5/m/key",
}
# Social logins attach to an existing account only through an email the provider verified.
SOCIALACCOUNT_EMAIL_AUTHENTICATION = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = True
SOCIALACCOUNT_EMAIL_VERIFICATION = "none"
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_LOGIN_ON_GET = False
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_PROVIDERS: dict = {
    "google": {
        "SCOPE": ["profile", "email"],
        "AUTH_PARAMS": {"access_type": "online"},
        "EMAIL_AUTHENTICATION": True,
        "APPS": [{"client_id": env("GOOGLE_CLIENT_ID"), "secret": env("GOOGLE_CLIENT_SECRET"), "key": ""}]
        if env("GOOGLE_CLIENT_ID")
        else [],
    },
    "facebook": {
        "METHOD": "oauth2",
        "SCOPE": ["email", "public_profile"],
        "FIELDS": ["id", "email", "name", "first_name", "last_name", "verified"],
        "VERSION": env("FACEBOOK_GRAPH_VERSION", "v21.0"),
        "EMAIL_AUTHENTICATION": True,
        "APPS": [{"client_id": env("FACEBOOK_APP_ID"), "secret": env("FACEBOOK_APP_SECRET"), "key": ""}]
        if env("FACEBOOK_APP_ID")
        else [],
    },
}

# --- Sessions, cookies, CSRF ------------------------------------------------------------------
# Every host keeps its own cookies (host-only: no Domain attribute). A company's pages are the
# work of its members (and its customers' media), so they must not be able to read, send or
# overwrite the cookies of another company or of the admin on the public domain; moving between
# hosts goes through the one-time handoff ticket (tenants.services.handoff_ticket).
SESSION_COOKIE_DOMAIN = None
CSRF_COOKIE_DOMAIN = None
LANGUAGE_COOKIE_DOMAIN = None
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_AGE = 60 * 60 * 24 * 14
CSRF_COOKIE_SAMESITE = "Lax"
# Unsafe requests are accepted from their own origin only (Django compares Origin with the
# request's scheme and host). Subdomains are the same *site*, so SameSite cookies do not
# separate them: no wildcard here, or any company's page could post to every other one.
CSRF_TRUSTED_ORIGINS = [origin for origin in env_list("CSRF_TRUSTED_ORIGINS") if "*" not in origin]
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# --- API ----------------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "tenants.api.authentication.ApiKeyAuthentication",
        "tenants.api.tokens.StampedJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["tenants.api.permissions.HasCompanyRole"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.CursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_CLASSES": ["tenants.api.throttling.ApiKeyRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api_key": env("API_KEY_RATE", "600/min")},
}
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": __import__("datetime").timedelta(minutes=15),
    "REFRESH_TOKEN_LIFETIME": __import__("datetime").timedelta(days=7),
    # A refresh token works once (the one presented is blacklisted); every token also carries
    # a stamp that password, email and account changes revoke (tenants.api.tokens).
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Master IA API",
    "DESCRIPTION": "REST API of a Master IA company workspace.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "ApiKey": {"type": "apiKey", "in": "header", "name": "Authorization", "description": "`Api-Key <key>`"},
        }
    },
}

# --- Sensitive data ---------------------------------------------------------------------------
# "kid:base64(32 bytes)" entries separated by commas; the first is used to encrypt.
FIELD_ENCRYPTION_KEYS = env("FIELD_ENCRYPTION_KEYS") or (
    "dev1:" + base64.b64encode(b"development-key-not-for-prod-32b").decode()
)

# --- i18n -------------------------------------------------------------------------------------
LANGUAGE_CODE = "pt-br"
LANGUAGES = [("pt-br", _("Portuguese (Brazil)")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "America/Sao_Paulo"
USE_I18N = True
USE_TZ = True

# --- Static and media -------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(BASE_DIR / ".data" / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
if env("AWS_STORAGE_BUCKET_NAME"):
    STORAGES["default"] = {"BACKEND": "storages.backends.s3.S3Storage"}
    AWS_STORAGE_BUCKET_NAME = env("AWS_STORAGE_BUCKET_NAME")
    AWS_S3_ENDPOINT_URL = env("AWS_S3_ENDPOINT_URL") or None
    AWS_S3_REGION_NAME = env("AWS_S3_REGION_NAME") or None
    AWS_DEFAULT_ACL = None
    AWS_QUERYSTRING_AUTH = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "Master IA <no-reply@masteria.app>")
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = int(env("EMAIL_PORT", "25"))
EMAIL_HOST_USER = env("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)

# Any request body (uploads included) larger than this is refused before Django spools it to
# disk (core.asgi); the views' own limits are smaller (16 MB media, 100 MB imports).
REQUEST_BODY_MAX_MB = int(env("REQUEST_BODY_MAX_MB", "110"))
INVITATION_TTL_DAYS = int(env("INVITATION_TTL_DAYS", "7"))
SUPPORT_ACCESS_TTL_MINUTES = int(env("SUPPORT_ACCESS_TTL_MINUTES", "60"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        # httpx logs every request's full URL at INFO (Graph's debug_token takes the token in
        # its query string) and httpcore its traffic at DEBUG: neither goes to the logs.
        "httpx": {"level": "WARNING"},
        "httpcore": {"level": "WARNING"},
    },
}

# --- Inbox providers (base URLs are settings so tests use loopback stubs) -----------------------
WHATSAPP_GRAPH_URL = env("WHATSAPP_GRAPH_URL", "https://graph.facebook.com")
WHATSAPP_GRAPH_VERSION = env("WHATSAPP_GRAPH_VERSION", "v21.0")
SMS_API_URL = env("SMS_API_URL", "https://api.twilio.com")
# Where Graph's media objects may point (the download carries the channel's token).
WHATSAPP_MEDIA_HOSTS = env_list("WHATSAPP_MEDIA_HOSTS", "lookaside.fbsbx.com")
# Inbound media larger than this is not downloaded (WhatsApp documents go up to 100 MB).
INBOUND_MEDIA_MAX_MB = float(env("INBOUND_MEDIA_MAX_MB", "100"))

# --- AI (OpenAI-compatible provider; each company may set its own in AI settings) ------------
# The installation default a company uses until it sets its own endpoint and key.
OPENAI_BASE_URL = env("OPENAI_BASE_URL", "https://api.openai.com/v1")
OPENAI_API_KEY = env("OPENAI_API_KEY")
OPENAI_CHAT_MODEL = env("OPENAI_CHAT_MODEL", "gpt-4o-mini")
# "local" is the offline embedder shipped with the product (no download, no provider call);
# production sets a provider model such as text-embedding-3-small.
OPENAI_EMBEDDING_MODEL = env("OPENAI_EMBEDDING_MODEL", "text-embedding-3-small" if OPENAI_API_KEY else "local")
OPENAI_TIMEOUT = float(env("OPENAI_TIMEOUT", "30"))
OPENAI_MAX_RETRIES = int(env("OPENAI_MAX_RETRIES", "2"))
# Tokens a company may spend per calendar month unless it sets its own budget (0: no limit).
AI_MONTHLY_TOKEN_BUDGET = int(env("AI_MONTHLY_TOKEN_BUDGET", "2000000"))
# Kanban AI lead progression: the debounce after a customer message, and the least time between
# two readings of one card.
KANBAN_AI_DEBOUNCE_SECONDS = float(env("KANBAN_AI_DEBOUNCE_SECONDS", "45"))
KANBAN_AI_MIN_INTERVAL_SECONDS = float(env("KANBAN_AI_MIN_INTERVAL_SECONDS", "180"))
# Prices used to estimate cost, in US dollars per million tokens (input, output).
AI_PRICE_INPUT_PER_MTOK = env("AI_PRICE_INPUT_PER_MTOK", "0.15")
AI_PRICE_OUTPUT_PER_MTOK = env("AI_PRICE_OUTPUT_PER_MTOK", "0.60")
