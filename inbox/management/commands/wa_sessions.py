"""``manage.py wa_sessions``: the process that holds live WhatsApp Web sessions.

Listens for commands on Redis (``wa-sessions:commands``), resumes saved sessions at start,
reconnects with backoff, and stops cleanly on SIGTERM/SIGINT.
"""

from __future__ import annotations

import json
import signal

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from core.redis import redis_client
from inbox.providers.whatsapp_web import COMMANDS_CHANNEL
from inbox.sessions.manager import SessionManager, redis_publisher


class Command(BaseCommand):
    help = "Run the WhatsApp Web session manager (wa-sessions process)."

    def handle(self, *args, **options):
        from inbox.sessions.neonize_client import neonize_factory

        manager = SessionManager(client_factory=neonize_factory, publish=redis_publisher())
        pubsub = redis_client().pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(COMMANDS_CHANNEL)
        stopping = {"now": False}

        def stop(signum, frame):
            stopping["now"] = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        manager.resume_all()
        self.stdout.write("wa-sessions: listening for commands")
        try:
            while not stopping["now"]:
                # A long-running process: drop database connections that went stale.
                close_old_connections()
                message = pubsub.get_message(timeout=0.5)
                if message and message.get("type") == "message":
                    try:
                        manager.handle_command(json.loads(message["data"]))
                    except ValueError:
                        self.stderr.write("wa-sessions: ignoring a malformed command")
                manager.process_events()
                manager.tick()
        finally:
            manager.shutdown()
            pubsub.close()
