"""The bulk sending engine: the only code that loops over recipients (CODE-REVIEW rule 4).

- ``snapshot``: the audience materialized into recipient rows (one INSERT ... SELECT);
- ``claim``: batches claimed with ``FOR UPDATE SKIP LOCKED`` and a lease;
- ``outcomes``: classification of provider answers by Meta's codes and the bulk write-back
  (recipients, conversation messages, timeline, counters) in set-based statements;
- ``run``: one campaign run in one worker: limiter -> claim -> send concurrently -> write;
- ``reconcile``: status webhooks applied to recipients (by our callback data), expired
  leases resolved, and counters kept.

"Send these rows" (``run.send_rows``) is separate from "a campaign" so drip cadences can hand
their due steps to the same engine.
"""
