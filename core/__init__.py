"""What every app needs and that is no app's business: schema guards, the realtime transport,
the one Redis client, the binary cursor, task queuing by name and the sweep over companies.

``core`` imports no project app (the import-linter contract in ``make lint`` enforces it).
"""
