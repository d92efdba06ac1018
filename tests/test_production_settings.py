"""Production settings refuse to start with known or weak secrets (audit M6, I), keep every
cookie on its own host (M1), and the production entry points never fall back to DEBUG (I).

Each case loads the settings in a fresh interpreter, as a deployment would."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

import pytest
from django.conf import settings

GOOD_SECRET = "q7Vt-3kLm9zR_xP2wN8sJ4hD6fB1cY0aE5uG-oI_lT3vK9nM2rQ8"
GOOD_KEYS = "k2026a:" + base64.b64encode(bytes(range(32))).decode()
BASE_ENV = {
    "DATABASE_URL": "postgresql://u:p@db.internal:5432/masteria",
    "REDIS_URL": "redis://redis.internal:6379",
    "SECRET_KEY": GOOD_SECRET,
    "FIELD_ENCRYPTION_KEYS": GOOD_KEYS,
    "BASE_DOMAIN": "masteria.example.com",
}
# One interpreter loads the settings once per case (a fresh import each time, as a deployment
# would): an interpreter per case cost seconds each on a loaded machine.
PROBE = """
import importlib, json, os, sys
cases = json.loads(sys.stdin.read())
clean = dict(os.environ)
out = []
for overrides, names in cases:
    os.environ.clear()
    os.environ.update(clean)
    for key, value in overrides.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    for name in [m for m in sys.modules if m == "config.settings" or m.startswith("config.settings.")]:
        del sys.modules[name]
    try:
        s = importlib.import_module("config.settings.production")
    except Exception as exc:  # the refusal, as the process would print it
        out.append({"error": f"{type(exc).__name__}: {exc}"})
        continue
    out.append({name: getattr(s, name, None) for name in names})
print(json.dumps(out, default=str))
"""
CASES: list[tuple[dict, tuple[str, ...]]] = []


def case(overrides: dict[str, str | None], *names: str) -> int:
    CASES.append((overrides, names))
    return len(CASES) - 1


@pytest.fixture(scope="module")
def loaded() -> list[dict]:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(BASE_ENV)
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        input=json.dumps(CASES),
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


WEAK_SECRETS = [
    "change-me-to-a-long-random-string",  # .env.example
    "insecure-development-key-change-me",  # the development default
    "test-secret-key-that-is-long-enough-for-hs256-jwt",  # config.settings.test
    "x" * 60,  # long, but one character
    "short-but-random-Zq81",  # random, but short
    "django-insecure-" + "a1b2c3d4e5" * 5,  # startproject's marker
    "my-key-please-change-me-before-going-live-1234567890",
]
WEAK_KEY_RINGS = [
    "k2026a:REPLACE_WITH_BASE64_32_BYTES",  # .env.example: refused at start, not at first use
    "dev1:" + base64.b64encode(b"development-key-not-for-prod-32b").decode(),
    "k1:" + base64.b64encode(b"short").decode(),
    "k2:" + base64.b64encode(b"2" * 32).decode(),  # config.settings.test's kind of key
    "nonsense",
]
SECRET_CASES = {secret: case({"SECRET_KEY": secret}) for secret in WEAK_SECRETS}
MISSING_SECRET = case({"SECRET_KEY": None})
KEY_RING_CASES = {keys: case({"FIELD_ENCRYPTION_KEYS": keys}) for keys in WEAK_KEY_RINGS}
WEAK_JWT_KEY = case({"JWT_SIGNING_KEY": "change-me"})
GOOD = case(
    {},
    "DEBUG",
    "SESSION_COOKIE_DOMAIN",
    "CSRF_COOKIE_DOMAIN",
    "LANGUAGE_COOKIE_DOMAIN",
    "SESSION_COOKIE_NAME",
    "CSRF_COOKIE_NAME",
    "SESSION_COOKIE_SECURE",
    "CSRF_TRUSTED_ORIGINS",
    "SECURE_PROXY_SSL_HEADER",
)
SHARED_COOKIE = case(
    {"SESSION_COOKIE_DOMAIN": ".masteria.example.com", "CSRF_TRUSTED_ORIGINS": "https://*.masteria.example.com"},
    "SESSION_COOKIE_DOMAIN",
    "CSRF_TRUSTED_ORIGINS",
)


@pytest.mark.parametrize("secret", WEAK_SECRETS)
def test_known_or_weak_secret_keys_are_refused(loaded, secret):
    result = loaded[SECRET_CASES[secret]]
    assert result.get("error", "").startswith("RuntimeError: SECRET_KEY"), result


def test_a_missing_secret_key_is_refused(loaded):
    assert loaded[MISSING_SECRET]["error"].startswith("RuntimeError: SECRET_KEY")


@pytest.mark.parametrize("keys", WEAK_KEY_RINGS)
def test_example_or_malformed_encryption_keys_are_refused(loaded, keys):
    result = loaded[KEY_RING_CASES[keys]]
    assert result.get("error", "").startswith("RuntimeError: FIELD_ENCRYPTION_KEYS"), result


def test_a_weak_jwt_signing_key_is_refused(loaded):
    assert loaded[WEAK_JWT_KEY]["error"].startswith("RuntimeError: JWT_SIGNING_KEY")


def test_good_secrets_start_with_host_only_cookies(loaded):
    result = loaded[GOOD]
    assert "error" not in result, result
    assert result["DEBUG"] is False
    assert result["SESSION_COOKIE_DOMAIN"] is None
    assert result["CSRF_COOKIE_DOMAIN"] is None
    assert result["LANGUAGE_COOKIE_DOMAIN"] is None
    assert result["SESSION_COOKIE_NAME"] == "__Host-sessionid"
    assert result["CSRF_COOKIE_NAME"] == "__Host-csrftoken"
    assert result["SESSION_COOKIE_SECURE"] is True
    assert result["CSRF_TRUSTED_ORIGINS"] == []
    # X-Forwarded-Proto is believed only through uvicorn's FORWARDED_ALLOW_IPS
    assert result["SECURE_PROXY_SSL_HEADER"] is None


def test_a_shared_cookie_domain_cannot_be_configured_back(loaded):
    result = loaded[SHARED_COOKIE]
    assert result == {"SESSION_COOKIE_DOMAIN": None, "CSRF_TRUSTED_ORIGINS": []}


ENTRY_POINTS = """
import importlib, json, os, sys
out = {}
for module in json.loads(sys.stdin.read()):
    os.environ.pop("DJANGO_SETTINGS_MODULE", None)
    for name in [m for m in sys.modules if m.startswith("config") or m == "inbox.intake"]:
        del sys.modules[name]
    from django.conf import settings
    from django.utils.functional import empty
    settings._wrapped = empty
    try:
        imported = importlib.import_module(module)
        if hasattr(imported, "configure"):  # inbox.intake sets Django up in main(), through configure()
            imported.configure()
        out[module] = {"module": os.environ["DJANGO_SETTINGS_MODULE"], "debug": settings.DEBUG}
    except Exception as exc:
        out[module] = {"module": os.environ.get("DJANGO_SETTINGS_MODULE"), "error": f"{type(exc).__name__}: {exc}"}
print(json.dumps(out))
"""
SERVERS = ["config.asgi", "config.wsgi", "config.celery", "inbox.intake"]


def test_production_entry_points_without_settings_module_are_production():
    env = {k: v for k, v in os.environ.items() if k not in BASE_ENV and k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run(
        [sys.executable, "-c", ENTRY_POINTS],
        input=json.dumps(SERVERS),
        env=env,
        cwd=settings.BASE_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    results = json.loads(done.stdout.strip().splitlines()[-1])
    for module in SERVERS:
        result = results[module]
        assert result["module"] == "config.settings.production", (module, result)
        # without DATABASE_URL and the secrets, production refuses to start: never DEBUG with dev keys
        assert result.get("debug") is not True, (module, result)
        assert "must be set" in result.get("error", ""), (module, result)
