"""The sandbox: a stand-in for the Patchworks Core API's flow version deployments, for the quick
start, the demo, the tests and the benchmarks. It runs as its own process with its own settings
and database:

    DJANGO_SETTINGS_MODULE=sandbox.settings python manage.py migrate
    DJANGO_SETTINGS_MODULE=sandbox.settings python manage.py sandbox_demo_data
    gunicorn sandbox.wsgi -b 127.0.0.1:8001 --workers 1 --threads 8

The API lives under /api/v1 (see openapi.yaml beside this file); the controls for tests (reset,
faults, request log) under /__sandbox__/, unless SANDBOX_CONTROL_ENABLED=false.
"""
