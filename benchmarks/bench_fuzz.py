"""The long fuzz (issue 11): the property tests of ``make test`` under Hypothesis' ``fuzz``
profile (random, not derandomized, 2,000 examples each instead of a few dozen): any query string
on every page and API list, the contact and inbox lists' cursors and filters, any uploaded file,
the Meta and SMS parsers on any JSON value, fuzzed signed webhook bodies through the Django view,
the intake server and the ASGI fast path.

They run as pytest in a child process, against this checkout's test database, as ``make test``
runs them. ``BENCH fuzz_failures`` counts the failing tests (0 is the target); a failure prints
Hypothesis' falsifying example and its reproduction blob.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROPERTY_TESTS = [
    "tests/test_fuzz_query_params.py",
    "crm/tests/test_fuzz_upload.py",
    "inbox/tests/test_fuzz_webhooks.py",
    "inbox/tests/test_webhook_poison.py::test_parser_accepts_any_json_value_and_says_what_it_skipped",
]


def run(report) -> None:
    env = {
        **os.environ,
        "HYPOTHESIS_PROFILE": os.environ.get("HYPOTHESIS_PROFILE", "fuzz"),
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
    }
    env.pop("MASTERIA_BENCH", None)  # the tests' own database, not the benchmarks'
    started = time.perf_counter()
    child = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", "-rf", *PROPERTY_TESTS],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    took = time.perf_counter() - started
    output = child.stdout + child.stderr
    failed = re.search(r"(\d+) failed", output)
    passed = re.search(r"(\d+) passed", output)
    if child.returncode not in (0, 1) or not (failed or passed):
        print(output[-4000:], flush=True)
        raise SystemExit(f"the property tests did not run (pytest exit {child.returncode})")
    if failed:
        print("\n".join(line for line in output.splitlines() if line.startswith(("FAILED", "Falsifying", "@"))))
    report("fuzz_tests_passed", int(passed.group(1)) if passed else 0, "count")
    report("fuzz_failures", int(failed.group(1)) if failed else 0, "count")
    report("fuzz_s", took, "s")
