# The Deployments Console:  docker build -t deployments-console .
# Configured entirely by environment variables (.env.example lists them). Run the migrations as a
# release step (`docker run --rm --env-file console.env deployments-console python manage.py
# release`: migrate as the schema's owner, then grant the runtime role), not on every start:
# several instances would race.
#
# PYTHON_IMAGE may name any Debian bookworm image with Python 3.11 as `python` (CI builds on a
# base made with debootstrap from Debian's packages; see README).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- builder: the dependencies, in a venv that the final image copies whole ---------------------
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv

# The dependencies come from the hashed lock file alone (pip refuses any file whose hash differs
# and any package the file does not pin), as wheels: no compiler is needed. This layer is rebuilt
# only when requirements.txt changes. Translation sources (.po) are never read at run time, and
# the console speaks English and German: the other languages' catalogues go too (about 15 MB).
COPY requirements.txt /build/
RUN /opt/venv/bin/pip install --require-hashes --no-deps --only-binary :all: \
        -r /build/requirements.txt \
    && find /opt/venv -name '*.po' -delete \
    && find /opt/venv -path '*/locale/*/LC_MESSAGES/*.mo' ! -path '*/locale/en*' ! -path '*/locale/de/*' -delete

# Then the project itself, without dependencies, as an editable install of /app: the venv knows
# the console's name and version, and the code runs from /app (copied in the final stage), where
# settings.BASE_DIR finds templates/ and static/ beside the packages. Only the package markers are
# needed here, so that this layer survives code changes. `pip check` fails the build when the
# lock file misses a dependency of this Python (it was made with --no-deps above: a lock compiled
# on a newer 3.11 lacks async-timeout, which redis needs before 3.11.3). pip and setuptools go
# last: nothing in the running image installs anything.
WORKDIR /app
COPY pyproject.toml ./
COPY console/__init__.py console/
COPY deployments_ui/__init__.py deployments_ui/
RUN /opt/venv/bin/pip install --no-deps --editable . \
    && /opt/venv/bin/pip check \
    && /opt/venv/bin/python -m pip uninstall --yes pip setuptools

# --- the image ----------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}

# DATABASE_URL: a single-instance trial keeps SQLite in /data (mount a volume there);
# production sets a PostgreSQL URL instead.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DJANGO_SETTINGS_MODULE=console.settings \
    DATABASE_URL=sqlite:////data/console.sqlite3 \
    PORT=8000

RUN useradd --system --user-group --uid 10001 --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin console \
    && mkdir /data && chown console:console /data

WORKDIR /app
COPY --from=builder /opt/venv /opt/venv
# Only what the console runs: no sandbox, tests, benchmarks, databases or local secrets
# (.dockerignore keeps everything else out of the build context as well).
COPY manage.py gunicorn.conf.py ./
COPY console/ console/
COPY deployments_ui/ deployments_ui/
COPY templates/ templates/
COPY static/ static/
COPY locale/ locale/

# Static files are collected (hashed names, pre-compressed, served by WhiteNoise with long-lived
# cache headers) once, at build time, with a throwaway key that is never stored in the image.
# The code is compiled here because the console user cannot write to /app.
# The translations (locale/*/LC_MESSAGES/django.po) are compiled here too, without gettext.
RUN export DJANGO_DEBUG=0 \
    DJANGO_SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    && python manage.py collectstatic --noinput --verbosity 0 \
    && python manage.py compile_translations --verbosity 0 \
    && python -m compileall -q console deployments_ui

USER console:console
EXPOSE 8000

# Liveness from inside the container (the slim image has no curl). The Host header is the first
# of DJANGO_ALLOWED_HOSTS so that Django accepts it; /healthz is exempt from the HTTPS redirect.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import http.client, os; host = os.environ.get('DJANGO_ALLOWED_HOSTS', '').split(',')[0].strip().lstrip('.'); conn = http.client.HTTPConnection('127.0.0.1', int(os.environ.get('PORT') or 8000), timeout=4); conn.request('GET', '/healthz', headers={'Host': host if host not in ('', '*') else 'localhost'}); raise SystemExit(0 if conn.getresponse().status == 200 else 1)"]

CMD ["gunicorn", "-c", "gunicorn.conf.py", "console.wsgi"]
