"""Pages of the inbox: ``inbox`` (the live inbox: list, thread, composer, contact panel) and
``channels`` (channel settings: connect each kind, health, live QR, simulated replies)."""
