"""Work is queued by registered task name (core.tasks), not by importing the task: a typo in a
name would only show when the work is lost. Every name the code queues, the beat schedule runs
or a hook listener registers is a task Celery knows."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)


@pytest.fixture(scope="module")
def registered() -> set[str]:
    from config.celery import app

    app.loader.import_default_modules()
    return {name for name in app.tasks if not name.startswith("celery.")}


def _queued_names() -> dict[str, str]:
    names: dict[str, str] = {}
    for path in ROOT.rglob("*.py"):
        relative = path.relative_to(ROOT)
        if relative.parts[0].startswith(".") or "tests" in relative.parts or "migrations" in relative.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            name = _queued_name(node)
            if name is not None:
                names.setdefault(name, str(relative))
    return names


def _queued_name(node: ast.AST) -> str | None:
    """The literal task name of ``enqueue("app.task", ...)``, ``enqueue_on_commit("app.task",
    ...)`` or ``hooks.register(hook, "app.task")``."""
    if not isinstance(node, ast.Call):
        return None
    func = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
    position = {"enqueue": 0, "enqueue_on_commit": 0, "register": 1}.get(func)
    if position is None or len(node.args) <= position:
        return None
    if func == "register" and not (
        isinstance(node.func, ast.Attribute) and getattr(node.func.value, "id", "") == "hooks"
    ):
        return None
    arg = node.args[position]
    return arg.value if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else None


def test_the_code_queues_tasks_that_exist(registered):
    names = _queued_names()
    assert {"inbox.deliver_message", "crm.contact_import_run", "inbox.webhook_drain"} <= set(
        names
    )  # the scan sees them
    unknown = {name: where for name, where in names.items() if name not in registered}
    assert unknown == {}


def test_every_beat_entry_names_a_registered_task(registered):
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule
    unknown = {entry: spec["task"] for entry, spec in schedule.items() if spec["task"] not in registered}
    assert unknown == {}
