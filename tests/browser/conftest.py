"""Browser tests: Playwright driving Debian's Chromium against a real uvicorn server.

The server runs in a subprocess on the test database (``LIVE_TEST_DATABASE=1`` makes the test
settings use it as the default database). Tests here must not use the transactional ``db``
fixture: the server cannot see uncommitted rows. They create what they need with unique names
(``unique``) through the UI or through ``committed`` (a block that writes for real).
Without Chromium the tests are skipped with a loud reason; under CI a missing browser fails.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest

# Playwright's sync API keeps an event loop in the test thread; Django's ORM calls made by
# fixtures in that thread are still synchronous and safe.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
# The server and worker processes read these at start (they inherit the environment). Set
# here, once for the session, rather than by the module of a test that needs them: the Kanban
# AI reads a conversation one second after a customer's message instead of 45 s.
os.environ.setdefault("KANBAN_AI_DEBOUNCE_SECONDS", "1")
os.environ.setdefault("KANBAN_AI_MIN_INTERVAL_SECONDS", "1")

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def chromium_path():
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        message = f"BROWSER TESTS NOT RUN: no Chromium at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="session")
def live_server_url(django_db_setup, django_db_blocker):
    """Base port of a uvicorn server on the test database; use ``url_for(host, path)``."""
    from django.conf import settings

    port = _free_port()
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="config.settings.test",
        LIVE_TEST_DATABASE="1",
        SITE_PORT=str(port),
        PYTHONUNBUFFERED="1",
    )
    log = open(Path(settings.BASE_DIR) / ".data" / f"live-server-{port}.log", "w")  # noqa: SIM115
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "config.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--ws",
            "websockets-sansio",
            "--lifespan",
            "off",
            "--no-access-log",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=settings.BASE_DIR,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"live server did not start; see {log.name}") from None
            time.sleep(0.1)
    yield port
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
    log.close()


@pytest.fixture(scope="session")
def url_for(live_server_url):
    from django.conf import settings

    def make(path: str = "/", slug: str | None = None) -> str:
        host = f"{slug}.{settings.BASE_DOMAIN}" if slug else settings.BASE_DOMAIN
        return f"http://{host}:{live_server_url}{path}"

    return make


@pytest.fixture(scope="session")
def playwright_browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# Every page runs under the product's Content-Security-Policy: a violation (an inline script,
# style or event handler, an eval) or an Alpine expression its CSP build cannot evaluate is
# reported on the console, and fails the test that loaded the page.
CSP_PROBE = """
document.addEventListener("securitypolicyviolation", function (e) {
  console.error("CSP violation: " + e.violatedDirective + " blocked " + (e.blockedURI || "inline") +
    " at " + (e.sourceFile || location.href) + ":" + e.lineNumber);
});
"""
CSP_MARKERS = ("CSP violation", "Content Security Policy", "Alpine Expression Error", "CSP Parser Error")


@pytest.fixture
def new_context(playwright_browser):
    """``new_context(**options)``: an isolated browser profile (cookies, storage)."""
    contexts = []
    problems: list[str] = []

    def watch(page):
        page.on("console", lambda msg: problems.append(msg.text) if any(m in msg.text for m in CSP_MARKERS) else None)

    def make(**options):
        options.setdefault("viewport", {"width": 1366, "height": 900})
        context = playwright_browser.new_context(**options)
        context.set_default_timeout(15000)
        context.add_init_script(CSP_PROBE)
        context.on("page", watch)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()
    if problems:
        pytest.fail("the page broke its Content-Security-Policy:\n" + "\n".join(dict.fromkeys(problems)))


@pytest.fixture
def page(new_context):
    return new_context().new_page()


@pytest.fixture
def screenshot():
    """``screenshot(page, name)`` saves ``test-artifacts/screenshots/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str, full_page: bool = True) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return take


@pytest.fixture
def unique():
    return lambda prefix="x": f"{prefix}{uuid.uuid4().hex[:8]}"


@pytest.fixture
def committed(django_db_blocker):
    """``with committed(): ...`` writes rows the live server can see (no rollback)."""
    from django.db import connection

    @contextmanager
    def block():
        with django_db_blocker.unblock():
            try:
                yield
            finally:
                connection.set_schema_to_public()

    return block
