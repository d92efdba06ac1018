"""Server-side helpers of the interface kit (templates/components/): pagination for tables and
htmx helpers (toasts through HX-Trigger). Template tags live in ``tenants/templatetags/ui.py``."""
