"""Database settings read from the environment (config.settings.base)."""

from __future__ import annotations

from config.settings.base import database_from_url


def test_processes_take_connections_from_a_pool_by_default(monkeypatch):
    monkeypatch.delenv("DB_POOL_MAX_SIZE", raising=False)
    monkeypatch.delenv("DB_POOL_MIN_SIZE", raising=False)
    db = database_from_url("postgresql://u:p@db.internal:5432/masteria?sslmode=require")
    assert db["OPTIONS"] == {"sslmode": "require", "pool": {"min_size": 2, "max_size": 20, "timeout": 10.0}}
    # Django refuses persistent connections with a pool: each request gives its own back.
    assert db["CONN_MAX_AGE"] == 0 and db["CONN_HEALTH_CHECKS"] is True


def test_pool_size_comes_from_the_environment_and_zero_turns_it_off(monkeypatch):
    monkeypatch.setenv("DB_POOL_MAX_SIZE", "5")
    monkeypatch.setenv("DB_POOL_MIN_SIZE", "9")
    assert database_from_url("postgresql:///masteria")["OPTIONS"]["pool"]["min_size"] == 5
    monkeypatch.setenv("DB_POOL_MAX_SIZE", "0")
    monkeypatch.setenv("DB_CONN_MAX_AGE", "30")
    db = database_from_url("postgresql:///masteria")
    assert db["OPTIONS"] == {} and db["CONN_MAX_AGE"] == 30


def test_tests_run_on_plain_connections():
    from django.conf import settings

    assert "pool" not in settings.DATABASES["default"]["OPTIONS"]


def test_benchmarks_and_tests_use_separate_redis_databases():
    """A benchmark's Celery worker took the queued tasks of a test run in the same checkout."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    from django.conf import settings

    show = (
        "from django.conf import settings as s; import json;"
        "print(json.dumps([s.CELERY_BROKER_URL, s.REDIS_APP_URL, s.CACHES['default']['LOCATION']]))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "MASTERIA_BENCH": "1"}
    root = Path(__file__).resolve().parents[1]
    child = subprocess.run([sys.executable, "-c", show], cwd=root, env=env, capture_output=True, text=True, check=True)
    bench = json.loads(child.stdout.strip().splitlines()[-1])
    ours = [settings.CELERY_BROKER_URL, settings.REDIS_APP_URL, settings.CACHES["default"]["LOCATION"]]
    assert not set(bench) & set(ours)
