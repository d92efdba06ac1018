"""The pt-BR catalog is complete and the pages speak Portuguese by default."""

from __future__ import annotations

import re
from pathlib import Path

PO = Path(__file__).resolve().parents[1] / "locale" / "pt_BR" / "LC_MESSAGES" / "django.po"


def test_every_message_is_translated():
    text = PO.read_text()
    entries = text.split("\n\n")[1:]
    untranslated = []
    for entry in entries:
        if "#, fuzzy" in entry:
            untranslated.append(entry)
            continue
        if re.search(r'^msgstr(\[\d\])? ""\n?$', entry.strip().split("\n")[-1] + "\n", re.M) and '"\n"' not in entry:
            untranslated.append(entry)
    assert not untranslated, untranslated[:3]


def test_pages_default_to_portuguese(owner_client, pipeline):
    html = owner_client.get(f"/pipelines/{pipeline.pk}/").content.decode()
    assert "Decisões da IA" in html and "Novo cartão" in html and "Novo lead" in html
