"""The interface app: the kit's template tags (``ui/templatetags/ui.py``, ``{% load ui %}``), the
navigation registry (``navigation.py``), pagination for tables and htmx helpers (toasts through
HX-Trigger), and the PWA and interface-kit pages (``views.py``). Imports ``core`` only."""
