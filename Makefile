# The two commands of the quick start: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CONSOLE_PORT ?= 8000
SANDBOX_PORT ?= 8001
RECEIVER_PORT ?= $(shell echo $$(( $(SANDBOX_PORT) + 1 )))
SANDBOX := DJANGO_SETTINGS_MODULE=sandbox.settings $(PY) manage.py

.PHONY: run test install lint format chromium

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e ".[dev]"
	touch $@

install: $(VENV)/.installed

# Local secrets for the demo, made once and never committed.
.env.local: | $(VENV)/.installed
	@umask 077; { \
	  echo "DJANGO_SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))')"; \
	  echo "CONSOLE_ENCRYPTION_KEYS=$$($(PY) -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"; \
	} > $@
	@echo "Wrote $@ (local secrets for the demo; git ignores it)."

run: $(VENV)/.installed .env.local
	@set -a; . ./.env.local; set +a; \
	export DJANGO_DEBUG=1 PATCHWORKS_BASE_URL=http://127.0.0.1:$(SANDBOX_PORT) CONSOLE_SERVICE_API_KEY=sandbox-key-service; \
	export EMAIL_BACKEND=django.core.mail.backends.console.EmailBackend CONSOLE_BASE_URL=http://127.0.0.1:$(CONSOLE_PORT); \
	export CONSOLE_DEMO_WEBHOOK_URL=http://127.0.0.1:$(RECEIVER_PORT)/demo; \
	$(SANDBOX) migrate --noinput >/dev/null && $(SANDBOX) sandbox_demo_data && \
	$(PY) manage.py migrate --noinput >/dev/null && $(PY) manage.py demo_setup || exit 1; \
	$(VENV)/bin/gunicorn -c python:sandbox.gunicorn_conf sandbox.wsgi -b 127.0.0.1:$(SANDBOX_PORT) & \
	sandbox_pid=$$!; \
	$(PY) manage.py run_huey & \
	worker_pid=$$!; \
	$(PY) manage.py webhook_receiver --port $(RECEIVER_PORT) & \
	receiver_pid=$$!; trap 'kill $$sandbox_pid $$worker_pid $$receiver_pid 2>/dev/null' EXIT INT TERM; \
	echo ""; \
	echo "  Deployments Console:  http://127.0.0.1:$(CONSOLE_PORT)/   (sign in as viewer, operator, editor or admin; password demo-password)"; \
	echo "  Patchworks sandbox:   http://127.0.0.1:$(SANDBOX_PORT)/api/v1/flow-version-deployments   (Authorization: sandbox-demo-key)"; \
	echo "  Background worker:    scheduled changes, drift detection every minute, notifications (manage.py run_huey)"; \
	echo "  Webhook receiver:     http://127.0.0.1:$(RECEIVER_PORT)/   (lists what the demo webhook posted; emails print here)"; \
	echo "  Sandbox API keys:     sandbox-demo-key, sandbox-key-viewer, sandbox-key-operator, sandbox-key-editor,"; \
	echo "                        sandbox-key-admin, sandbox-key-service (drift detection), sandbox-key-dashboard"; \
	echo ""; \
	$(PY) manage.py runserver 127.0.0.1:$(CONSOLE_PORT)

chromium:
	@if [ -x /usr/bin/chromium ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing Debian's chromium for the browser tests..."; \
	  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null \
	    || echo "NOTICE: chromium could not be installed: the browser tests will be skipped."; \
	else \
	  echo "NOTICE: /usr/bin/chromium is missing and cannot be installed here: the browser tests will be skipped."; \
	fi

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

test: $(VENV)/.installed chromium lint
	$(VENV)/bin/pytest $(PYTEST_ARGS)
