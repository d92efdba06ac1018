# Master IA developer commands. `make run` and `make test` set everything up themselves.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.synced

.PHONY: run test lint bench css messages format clean-data

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# Reinstall only when the lock file changes.
$(STAMP): uv.lock pyproject.toml | $(UV)
	UV_PYTHON=$(PYTHON) $(UV) sync --frozen --quiet
	touch $(STAMP)

venv: $(STAMP)

# Compiled catalogs (.mo) are built from the committed .po files.
messages: $(STAMP)
	@find . -path ./$(VENV) -prune -o -path ./$(TOOLS) -prune -o -name django.po -print | while read po; do \
		msgfmt --check-format -o "$${po%.po}.mo" "$$po" || exit 1; done

run: messages
	$(PY) -m config.devserver

# Browser tests run in a pytest process of their own: Playwright's sync API refuses to start in
# a process where the async tests (websockets, Channels) already ran an event loop. A browser
# test is never rerun: one that fails is a bug to find.
test: messages
	$(VENV)/bin/ruff check .
ifdef PYTEST_ARGS
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) -m pytest $(PYTEST_ARGS)
else
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) -m pytest --ignore=tests/browser
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) -m pytest tests/browser
endif

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(VENV)/bin/lint-imports

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: messages
	DJANGO_SETTINGS_MODULE=config.settings.test $(PY) -m benchmarks $(if $(ONLY),--only $(ONLY),)

# Build-time only (needs Node/npm): icon sprite, vendored htmx/Alpine, PWA icons, then the CSS
# from every template. The outputs are committed; running the product needs no Node.
css:
	cd static/src && npm ci --no-audit --no-fund && node build-icons.js && npm run vendor
	$(PY) static/src/build_pwa_icons.py
	cd static/src && npx tailwindcss -c ./tailwind.config.js -i ./app.css -o ../css/app.css --minify

clean-data:
	rm -rf .data
