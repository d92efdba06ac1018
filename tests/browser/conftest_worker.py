"""A real Celery worker for browser tests whose pages start background work (CRM imports).
Import the fixture into a test module:

    from tests.browser.conftest_worker import celery_worker_process  # noqa: F401

The worker runs on the test database (``LIVE_TEST_DATABASE=1``), like the live server, with
the same embedded Redis as this run (``DATA_DIR`` / ``EMBEDDED_REDIS_PORT``). It is started
once per session and stopped at the end.

It starts from an empty queue: the embedded Redis outlives a run (``.data/``), and tests that
ran without a worker (earlier in the session, or in an earlier run) leave their tasks in it,
for companies no test watches any more. Inherited, they took the worker's two threads (a demo
company's live campaign runs for minutes) while the module that started it waited for its own
tasks: the Kanban test's AI reading timed out that way after the accessibility test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def celery_worker_process(live_server_url):
    from django.conf import settings

    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="config.settings.test",
        LIVE_TEST_DATABASE="1",
        SITE_PORT=str(live_server_url),
        PYTHONUNBUFFERED="1",
    )
    log_path = Path(settings.BASE_DIR) / ".data" / f"celery-worker-{os.getpid()}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "w")  # noqa: SIM115 - closed at teardown
    from config.celery import app

    purged = app.control.purge()
    log.write(f"purged {purged} task(s) left in the broker before this worker\n")
    log.flush()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=threads",
            "--concurrency=2",
            "--loglevel=INFO",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "-n",
            f"browser-{os.getpid()}@%h",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=settings.BASE_DIR,
    )
    deadline = time.monotonic() + 60
    while "ready." not in log_path.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"celery worker did not start; see {log_path}")
        time.sleep(0.2)
    yield process
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()
