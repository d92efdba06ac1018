# syntax=docker/dockerfile:1.7
# Production image of Master IA: one image, several processes (web, worker, beat, wa-sessions).

FROM python:3.11-slim-bookworm AS build
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy PYTHONDONTWRITEBYTECODE=1
RUN apt-get update && apt-get install -y --no-install-recommends gettext build-essential \
    && rm -rf /var/lib/apt/lists/*
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
COPY pyproject.toml uv.lock ./
# Production dependencies only, exactly as locked.
RUN uv sync --frozen --no-dev --no-install-project
COPY . .
# Translations are compiled and static files collected at build time.
RUN find . -path ./.venv -prune -o -name django.po -print \
      | while read po; do msgfmt --check-format -o "${po%.po}.mo" "$po"; done \
    && DJANGO_SETTINGS_MODULE=config.settings.base SECRET_KEY=build \
       .venv/bin/python manage.py collectstatic --noinput

FROM python:3.11-slim-bookworm AS runtime
ENV PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PATH="/app/.venv/bin:$PATH" \
    DJANGO_SETTINGS_MODULE=config.settings.production PORT=8000
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system app && useradd --system --gid app --home /app --shell /usr/sbin/nologin app
WORKDIR /app
COPY --from=build --chown=app:app /app /app
USER app
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD curl -fsS http://127.0.0.1:${PORT}/healthz || exit 1
# Default process: the web server (HTTP + websockets). Compose overrides the command for the others.
# No per-request access log (the load balancer keeps one; at thousands of webhook deliveries a
# second it would cost the web process more than accepting them). WEB_WORKERS: one per core of a
# machine that runs only the web server.
# X-Forwarded-For and X-Forwarded-Proto are believed only from the load balancer's addresses
# (FORWARDED_ALLOW_IPS: addresses or networks, comma-separated): from anyone else a client could
# pick its own address (the login lockout, the support audit) or claim HTTPS.
ENV FORWARDED_ALLOW_IPS=127.0.0.1
CMD ["sh", "-c", "uvicorn config.asgi:application --host 0.0.0.0 --port ${PORT} --proxy-headers --forwarded-allow-ips \"${FORWARDED_ALLOW_IPS}\" --ws websockets-sansio --lifespan off --no-access-log --workers ${WEB_WORKERS:-2}"]
