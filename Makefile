# The two commands of the quick start: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CONSOLE_PORT ?= 8000
SANDBOX_PORT ?= 8001
# The sandbox answers as JSON:API by default: the strictest shape Patchworks plausibly uses (no
# flow names, no version numbers, relations only in included[]), so the demo shows the console
# working from what it can be sure of. Others: flat-camel, flat-snake, bodyless-writes.
SANDBOX_RESPONSE_SHAPE ?= jsonapi
RECEIVER_PORT ?= $(shell echo $$(( $(SANDBOX_PORT) + 1 )))
SANDBOX := DJANGO_SETTINGS_MODULE=sandbox.settings $(PY) manage.py
# `make run OIDC=1`: also a local OpenID Connect provider (idp/), and the console signs in with it.
OIDC ?=
IDP_PORT ?= 8003
IDP := DJANGO_SETTINGS_MODULE=idp.settings $(PY) manage.py

.PHONY: run test install lint typecheck format chromium lock docs screenshots

# Exactly the versions in the lock (hashes checked), then the project itself without resolving
# anything again. `make lock` updates the lock from the ranges in pyproject.toml.
$(VENV)/.installed: pyproject.toml requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet --require-hashes -r requirements-dev.txt
	$(VENV)/bin/pip install --quiet --no-deps -e .
	touch $@

# The translations, compiled from locale/*/LC_MESSAGES/django.po (no gettext needed).
MESSAGES := $(patsubst %.po,%.mo,$(wildcard locale/*/LC_MESSAGES/django.po))

install: $(VENV)/.installed $(MESSAGES)

locale/%/LC_MESSAGES/django.mo: locale/%/LC_MESSAGES/django.po | $(VENV)/.installed
	$(PY) manage.py compile_translations

# Local secrets for the demo, made once and never committed.
.env.local: | $(VENV)/.installed
	@umask 077; { \
	  echo "DJANGO_SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))')"; \
	  echo "CONSOLE_ENCRYPTION_KEYS=$$($(PY) -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"; \
	} > $@
	@echo "Wrote $@ (local secrets for the demo; git ignores it)."

run: $(VENV)/.installed .env.local $(MESSAGES)
	@set -a; . ./.env.local; set +a; \
	export DJANGO_DEBUG=1 PATCHWORKS_BASE_URL=http://127.0.0.1:$(SANDBOX_PORT) CONSOLE_SERVICE_API_KEY=sandbox-key-service; \
	export EMAIL_BACKEND=django.core.mail.backends.console.EmailBackend CONSOLE_BASE_URL=http://127.0.0.1:$(CONSOLE_PORT); \
	export CONSOLE_DEMO_WEBHOOK_URL=http://127.0.0.1:$(RECEIVER_PORT)/demo; \
	export CONSOLE_AUDIT_STREAM=file:$(CURDIR)/audit-stream.jsonl; \
	$(SANDBOX) migrate --noinput >/dev/null && $(SANDBOX) sandbox_demo_data && \
	$(PY) manage.py migrate --noinput >/dev/null && $(PY) manage.py demo_setup || exit 1; \
	idp_pid=; if [ -n "$(OIDC)" ]; then \
	  idp_dir=$$(mktemp -d); secret=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(24))'); \
	  export IDP_DATABASE=$$idp_dir/idp.sqlite3 IDP_RSA_KEY_FILE=$$idp_dir/signing-key.pem; \
	  export CONSOLE_OIDC_ISSUER=http://127.0.0.1:$(IDP_PORT)/o CONSOLE_OIDC_CLIENT_ID=deployments-console; \
	  export CONSOLE_OIDC_CLIENT_SECRET=$$secret CONSOLE_OIDC_SCOPES="openid email profile groups"; \
	  export CONSOLE_OIDC_PROVIDER_NAME="the local identity provider"; \
	  export CONSOLE_SSO_GROUP_ROLES=console-admins=Admin,console-editors=Editor,console-operators=Operator,console-viewers=Viewer; \
	  $(IDP) migrate --noinput >/dev/null && \
	  $(IDP) idp_setup --console-url http://127.0.0.1:$(CONSOLE_PORT) --client-id deployments-console --client-secret $$secret || exit 1; \
	  $(VENV)/bin/gunicorn -c python:idp.gunicorn_conf idp.wsgi -b 127.0.0.1:$(IDP_PORT) & \
	  idp_pid=$$!; \
	  echo "  Identity provider:    http://127.0.0.1:$(IDP_PORT)/o   (the sign-in page's \"Sign in with the local identity provider\")"; \
	fi; \
	SANDBOX_RESPONSE_SHAPE=$(SANDBOX_RESPONSE_SHAPE) $(VENV)/bin/gunicorn -c python:sandbox.gunicorn_conf sandbox.wsgi -b 127.0.0.1:$(SANDBOX_PORT) & \
	sandbox_pid=$$!; \
	$(PY) manage.py run_huey & \
	worker_pid=$$!; \
	$(PY) manage.py webhook_receiver --port $(RECEIVER_PORT) & \
	receiver_pid=$$!; trap 'kill $$sandbox_pid $$worker_pid $$receiver_pid $$idp_pid 2>/dev/null; rm -rf "$$idp_dir"' EXIT INT TERM; \
	echo ""; \
	echo "  Deployments Console:  http://127.0.0.1:$(CONSOLE_PORT)/   (sign in as viewer, operator, editor or admin; password demo-password)"; \
	echo "  Patchworks sandbox:   http://127.0.0.1:$(SANDBOX_PORT)/api/v1/flow-version-deployments   (Authorization: sandbox-demo-key)"; \
	echo "  Sandbox shape:        $(SANDBOX_RESPONSE_SHAPE)   (make run SANDBOX_RESPONSE_SHAPE=flat-camel|flat-snake|jsonapi|bodyless-writes)"; \
	echo "  Background worker:    scheduled changes, drift detection every minute, notifications (manage.py run_huey)"; \
	echo "  Audit stream:         $(CURDIR)/audit-stream.jsonl   (every audit event as a JSON line, sent by the worker)"; \
	echo "  Webhook receiver:     http://127.0.0.1:$(RECEIVER_PORT)/   (lists what the demo webhook posted; emails print here)"; \
	echo "  Sandbox API keys:     sandbox-demo-key, sandbox-key-viewer, sandbox-key-operator, sandbox-key-editor,"; \
	echo "                        sandbox-key-admin, sandbox-key-service (drift detection), sandbox-key-dashboard,"; \
	echo "                        sandbox-key-readonly (may read, not write)"; \
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

# mypy with django-stubs: the console with its settings, the sandbox (its own project) with its own.
typecheck: $(VENV)/.installed
	DJANGO_SETTINGS_MODULE=console.settings $(VENV)/bin/mypy
	DJANGO_SETTINGS_MODULE=sandbox.settings $(VENV)/bin/mypy --cache-dir .mypy_cache/sandbox sandbox

# The lock: requirements.txt (what ships: the image installs it) and requirements-dev.txt (what
# `make install` and CI install). Run after changing a range in pyproject.toml; add
# --upgrade-package NAME (or --upgrade) to PIP_COMPILE_ARGS to move pinned versions on.
PIP_COMPILE := $(VENV)/bin/pip-compile --quiet --generate-hashes --strip-extras \
	--no-emit-index-url --no-emit-find-links $(PIP_COMPILE_ARGS)
lock: $(VENV)/.installed
	$(PIP_COMPILE) --output-file=requirements.txt pyproject.toml
	$(PIP_COMPILE) --extra=dev --output-file=requirements-dev.txt pyproject.toml

# docs/configuration.md, written from the settings the code reads (console/configuration_docs.py).
docs: $(VENV)/.installed
	$(PY) -m console.configuration_docs

# The pictures in docs/images/: the user guide's journeys walked on the demo data
# (tests/browser/test_user_guide.py), each picture in light and dark, on a desktop and a phone.
screenshots: $(VENV)/.installed chromium
	rm -f docs/images/*.png
	CONSOLE_SCREENSHOTS=$(CURDIR)/docs/images $(VENV)/bin/pytest tests/browser/test_user_guide.py -p no:randomly -q

format: $(VENV)/.installed
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Coverage (branch, floor in pyproject.toml) is printed before pytest's own summary line, which
# stays last. `make test COVERAGE=` runs without it (e.g. with PYTEST_ARGS picking a few tests).
COVERAGE ?= --cov --cov-report=term:skip-covered
test: $(VENV)/.installed $(MESSAGES) chromium lint typecheck
	$(VENV)/bin/pytest $(COVERAGE) $(PYTEST_ARGS)
