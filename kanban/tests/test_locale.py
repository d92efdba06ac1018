"""The pages speak Portuguese by default (the catalog's completeness: tests/test_catalogs.py)."""

from __future__ import annotations


def test_pages_default_to_portuguese(owner_client, pipeline):
    html = owner_client.get(f"/pipelines/{pipeline.pk}/").content.decode()
    assert "Decisões da IA" in html and "Novo cartão" in html and "Novo lead" in html
