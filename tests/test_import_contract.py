"""The import contract of ``make lint`` (pyproject.toml, [tool.importlinter]) covers every app
of the project: an app left out of ``root_packages`` would never be checked."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from django.apps import apps
from django.conf import settings


def _contract() -> dict:
    with open(Path(settings.BASE_DIR) / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)["tool"]["importlinter"]


def _project_apps() -> set[str]:
    base = Path(settings.BASE_DIR).resolve()
    ours = set()
    for config in apps.get_app_configs():
        path = Path(config.path).resolve()
        if path.is_relative_to(base) and not path.relative_to(base).parts[0].startswith("."):  # not .venv
            ours.add(config.name.split(".")[0])
    return ours


def test_every_project_app_is_in_the_graph_and_in_a_layer():
    contract = _contract()
    roots = set(contract["root_packages"])
    ours = _project_apps()
    assert {"tenants", "crm", "inbox", "ui"} <= ours
    assert ours <= roots, f"add {sorted(ours - roots)} to [tool.importlinter] root_packages"
    [layers] = [c["layers"] for c in contract["contracts"] if c["type"] == "layers"]
    layered = {name for layer in layers for name in re.findall(r"\w+", layer)}
    assert roots <= layered
