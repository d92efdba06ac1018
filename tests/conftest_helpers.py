"""Constants shared by tests (importable, unlike conftest.py)."""

TEST_PASSWORD = "correct-horse-battery-staple"
