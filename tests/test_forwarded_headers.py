"""The production web command believes X-Forwarded-For / X-Forwarded-Proto only from the proxies
in FORWARDED_ALLOW_IPS (audit H3, I): run the image's own command line (Dockerfile CMD) and try
to escape the per-address login limit by sending a new X-Forwarded-For with every guess."""

from __future__ import annotations

import http.client
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from tenants import lockout

ROOT = Path(settings.BASE_DIR)


def _dockerfile_command() -> str:
    text = (ROOT / "Dockerfile").read_text()
    match = re.search(r'^CMD \["sh", "-c", "(.*)"\]$', text, re.MULTILINE)
    assert match, "the Dockerfile's CMD is a shell command line"
    return json.loads(f'"{match.group(1)}"')


def test_the_image_trusts_no_proxy_it_was_not_told_about():
    command = _dockerfile_command()
    assert "--proxy-headers" in command
    assert "'*'" not in command and '"*"' not in command
    assert '--forwarded-allow-ips "${FORWARDED_ALLOW_IPS}"' in command
    assert re.search(r"^ENV FORWARDED_ALLOW_IPS=127\.0\.0\.1$", (ROOT / "Dockerfile").read_text(), re.MULTILINE)
    compose = (ROOT / "docker-compose.yml").read_text()
    assert '"8000:8000"' not in compose and '"127.0.0.1:8000:8000"' in compose


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def image_web_server(django_db_setup):
    """The Dockerfile's web command, on loopback, with a load balancer at another address."""
    port = _free_port()
    command = _dockerfile_command().replace("--host 0.0.0.0", "--host 127.0.0.1")
    env = dict(
        os.environ,
        PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        PORT=str(port),
        WEB_WORKERS="1",
        FORWARDED_ALLOW_IPS="10.20.30.40",
        DJANGO_SETTINGS_MODULE="config.settings.test",
        LIVE_TEST_DATABASE="1",
    )
    # A process group of its own, ended as a whole: the shell's uvicorn child outlived a
    # terminate() of the shell alone. (stderr is not piped: nobody reads it, and a full pipe
    # would block the server.)
    process = subprocess.Popen(
        ["sh", "-c", command],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )

    def stop(sig) -> None:
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            pass

    # Ready means answering HTTP, not only accepting connections: on a loaded machine the first
    # request (Django's URL conf, the first database connection) can take seconds.
    deadline = time.monotonic() + 60
    while True:
        try:
            probe = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            probe.request("GET", "/healthz", headers={"Host": settings.BASE_DOMAIN})
            probe.getresponse().read()
            probe.close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                stop(signal.SIGKILL)
                raise RuntimeError(f"web server did not start: {shlex.quote(command)}") from None
            time.sleep(0.1)
    yield port
    stop(signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        stop(signal.SIGKILL)
        process.wait(10)


def test_a_client_cannot_choose_its_address_with_x_forwarded_for(image_web_server, acme):
    ip_rate = next(r for r in lockout.rates() if r.per == "ip")
    statuses = []
    for n in range(ip_rate.amount + 1):
        connection = http.client.HTTPConnection("127.0.0.1", image_web_server, timeout=10)
        connection.request(
            "POST",
            "/api/v1/auth/token/",
            body=json.dumps({"email": f"guess{n}@nobody.test", "password": "wrong"}),
            headers={
                "Host": f"acme.{settings.BASE_DOMAIN}",
                "Content-Type": "application/json",
                "X-Forwarded-For": f"203.0.113.{n}",
                "X-Forwarded-Proto": "https",
            },
        )
        statuses.append(connection.getresponse().status)
        connection.close()
    # every guess came from 127.0.0.1, whatever the header said: the address is locked
    assert statuses[:-1] == [401] * ip_rate.amount
    assert statuses[-1] == 429
