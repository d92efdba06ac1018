"""Every user-facing string of every app is in its pt-BR catalog, translated.

The strings are extracted from a copy of the sources exactly as ``makemessages`` would, and
``msgcmp`` (GNU gettext, which CI installs with ``msgfmt``) reports each one the committed
catalog lacks or leaves untranslated. The project-level catalog (``locale/``) holds the strings
of ``templates/``, ``core`` and ``config``; each app's catalog holds its own.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

ROOT = Path(settings.BASE_DIR)
APPS = sorted(path.parent.name for path in ROOT.glob("*/locale") if (path.parent / "apps.py").exists())
PROJECT = ("templates", "core", "config")
SKIP = shutil.ignore_patterns("locale", "tests", "__pycache__", "static", "node_modules")


def _extract(sources: list[Path], into: Path) -> Path:
    for source in sources:
        shutil.copytree(source, into / source.name, ignore=SKIP)
    (into / "locale" / "pt_BR" / "LC_MESSAGES").mkdir(parents=True)
    with contextlib.chdir(into):  # makemessages reads the current directory
        call_command("makemessages", locale=["pt_BR"], no_location=True, verbosity=0)
    return into / "locale" / "pt_BR" / "LC_MESSAGES" / "django.po"


def _missing(catalog: Path, extracted: Path) -> list[str]:
    result = subprocess.run(["msgcmp", str(catalog), str(extracted)], capture_output=True, text=True)
    return [line for line in result.stderr.splitlines() if "warning: this message is not used" not in line]


@pytest.mark.skipif(shutil.which("msgcmp") is None, reason="GNU gettext is not installed")
@pytest.mark.parametrize("app", [*APPS, "project"])
def test_the_pt_br_catalog_translates_every_string(app, tmp_path):
    if app == "project":
        extracted = _extract([ROOT / name for name in PROJECT], tmp_path)
        catalog = ROOT / "locale" / "pt_BR" / "LC_MESSAGES" / "django.po"
    else:
        extracted = _extract([ROOT / app], tmp_path)
        catalog = ROOT / app / "locale" / "pt_BR" / "LC_MESSAGES" / "django.po"
    assert extracted.exists()
    assert _missing(catalog, extracted) == []


def test_the_check_sees_a_missing_string(tmp_path):
    app = tmp_path / "src" / "probe"
    app.mkdir(parents=True)
    (app / "strings.py").write_text('from django.utils.translation import gettext as _\n_("Not in any catalog yet")\n')
    extracted = _extract([app], tmp_path / "out")
    catalog = ROOT / "ui" / "locale" / "pt_BR" / "LC_MESSAGES" / "django.po"
    assert any("used but not defined" in line for line in _missing(catalog, extracted))
