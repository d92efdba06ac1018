"""Demo data: an active follow-up cadence with a few enrolments (``demo_company_ready``)."""

from __future__ import annotations


def demo_cadence_setup() -> None:
    return None
