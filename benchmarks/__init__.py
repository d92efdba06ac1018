"""Benchmarks: ``make bench`` runs them all, ``make bench ONLY=name`` one.

Each module ``benchmarks/bench_<name>.py`` defines ``run(report)``; ``report(name, value,
unit)`` prints ``BENCH <name> <value> <unit>`` on a line of its own (a baseline measured in
the same run is reported as ``<name>.baseline`` right after). Benchmarks run against the test
database with the test settings, outside pytest.
"""
