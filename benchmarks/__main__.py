from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
import time


def report(name: str, value: float, unit: str) -> None:
    print(f"BENCH {name} {value:.6g} {unit}", flush=True)


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    os.environ["MASTERIA_BENCH"] = "1"
    import django

    django.setup()
    from benchmarks.support import ensure_bench_database

    ensure_bench_database()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", help="run only this benchmark module (name after bench_)")
    args = parser.parse_args()
    import benchmarks

    names = sorted(
        m.name[len("bench_") :] for m in pkgutil.iter_modules(benchmarks.__path__) if m.name.startswith("bench_")
    )
    if args.only:
        if args.only not in names:
            print(f"unknown benchmark {args.only!r}; have: {', '.join(names)}", file=sys.stderr)
            return 2
        names = [args.only]
    setup_django()
    for name in names:
        module = importlib.import_module(f"benchmarks.bench_{name}")
        started = time.perf_counter()
        print(f"# {name}", flush=True)
        module.run(report)
        print(f"# {name} took {time.perf_counter() - started:.1f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
