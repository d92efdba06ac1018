"""Places in the inbox's pages that upper apps fill (the AI app's section of the conversation
panel), registered from their ``AppConfig.ready()`` so the inbox imports none of them.

A panel section is a callable ``(request, conversation) -> str`` returning HTML (already
escaped, e.g. from ``render_to_string``); the panel shows the sections in registration order.
"""

from __future__ import annotations

from collections.abc import Callable

from django.utils.safestring import SafeString, mark_safe

PanelSection = Callable[..., str]
_panel_sections: dict[str, PanelSection] = {}


def register_panel_section(key: str, render: PanelSection) -> None:
    _panel_sections[key] = render


def panel_sections(request, conversation) -> list[SafeString]:
    return [mark_safe(render(request, conversation)) for render in _panel_sections.values()]  # noqa: S308 - rendered templates
