"""Every URL name a template reverses with ``{% url 'literal' %}`` exists in the URL
configuration it is served from (the company's or the public site's). A wrong name is a 500
only when that branch of the template renders (a recipient drawer's conversation link once
was), so it is checked here for every template, rendered or not."""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings
from django.urls import get_resolver

ROOT = Path(settings.BASE_DIR)
URL_TAG = re.compile(r"""{%\s*url\s+(['"])([^'"]+)\1""")
COMMENTS = re.compile(r"{%\s*comment\s*%}.*?{%\s*endcomment\s*%}|{#.*?#}", re.DOTALL)


def _names(resolver, prefix: str = "") -> set[str]:
    names = {prefix + key for key in resolver.reverse_dict if isinstance(key, str)}
    for namespace, (_, sub) in resolver.namespace_dict.items():
        names |= _names(sub, f"{prefix}{namespace}:")
    return names


def _templates():
    for path in ROOT.rglob("templates/**/*.html"):
        if not {".venv", "node_modules", ".tools"} & set(path.parts):
            yield path


def test_every_literal_url_name_in_a_template_exists():
    known = _names(get_resolver(settings.ROOT_URLCONF)) | _names(get_resolver(settings.PUBLIC_SCHEMA_URLCONF))
    missing = []
    for path in _templates():
        for match in URL_TAG.finditer(COMMENTS.sub("", path.read_text(encoding="utf-8"))):
            if match.group(2) not in known:
                missing.append(f"{path.relative_to(ROOT)}: {match.group(2)}")
    assert missing == []


def test_the_check_sees_the_templates_and_a_wrong_name():
    templates = list(_templates())
    assert len(templates) > 50
    known = _names(get_resolver(settings.ROOT_URLCONF))
    assert "inbox:conversation" in known and "inbox-conversation-missing" not in known
