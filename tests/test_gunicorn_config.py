"""gunicorn.conf.py: what the container's server is told, read the way gunicorn reads it."""

from __future__ import annotations

import os
import re
import runpy
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from gunicorn import glogging
from gunicorn.config import Config

REPO = Path(__file__).resolve().parent.parent
CONF = REPO / "gunicorn.conf.py"
ENV_NAMES = (
    "PORT",
    "GUNICORN_WORKERS",
    "GUNICORN_THREADS",
    "GUNICORN_MAX_REQUESTS",
    "GUNICORN_MAX_REQUESTS_JITTER",
    "GUNICORN_ACCESS_LOG",
    "FORWARDED_ALLOW_IPS",
    "PATCHWORKS_CONNECT_TIMEOUT",
    "PATCHWORKS_READ_TIMEOUT",
)
SECRET = "s3cret-value"


@pytest.fixture
def load(monkeypatch):
    """gunicorn's Config after reading gunicorn.conf.py with the given environment."""

    def load(**env: str) -> Config:
        for name in ENV_NAMES:
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        config = Config()
        # As gunicorn's Application.load_config_from_file does: known names, validated.
        for name, value in runpy.run_path(str(CONF)).items():
            if name in config.settings:
                config.set(name, value)
        return config

    return load


def test_header_names_with_underscores_are_dropped(load):
    assert load().header_map == "drop"


def test_workers_and_threads_come_from_the_environment(load):
    config = load(GUNICORN_WORKERS="3", GUNICORN_THREADS="7")
    assert (config.workers, config.threads) == (3, 7)
    assert config.worker_class_str == "gthread"


def test_workers_default_to_two_per_core_plus_one_within_a_cap(load):
    cores = len(os.sched_getaffinity(0))
    assert load().workers == min(2 * cores + 1, 12)
    assert load().threads == 4


def test_it_refuses_a_malformed_worker_count(load):
    with pytest.raises(SystemExit, match="GUNICORN_WORKERS"):
        load(GUNICORN_WORKERS="many")
    with pytest.raises(SystemExit, match="GUNICORN_THREADS"):
        load(GUNICORN_THREADS="0")


def test_it_binds_all_interfaces_on_port(load):
    assert load().bind == ["0.0.0.0:8000"]
    assert load(PORT="9001").bind == ["0.0.0.0:9001"]


def test_the_timeout_outlasts_a_patchworks_call(load):
    assert load().timeout > 10 + 3.05
    assert load(PATCHWORKS_READ_TIMEOUT="30").timeout > 30


def test_workers_are_recycled_with_jitter(load):
    config = load()
    assert config.max_requests > 0
    assert 0 < config.max_requests_jitter < config.max_requests


def test_forwarded_allow_ips_come_from_the_environment(load):
    assert load().forwarded_allow_ips == ["127.0.0.1", "::1"]
    assert load(FORWARDED_ALLOW_IPS="10.0.0.0/8").forwarded_allow_ips == ["10.0.0.0/8"]


def test_the_access_log_names_only_safe_fields(load):
    fields = set(re.findall(r"%\(([^)]+)\)s", load().access_log_format))
    # Method, path without the query string, status, length, duration, pid, time, request id.
    assert fields <= {"t", "m", "U", "s", "B", "b", "M", "D", "L", "T", "p", "{x-request-id}o"}
    assert {"m", "U", "s", "{x-request-id}o"} <= fields


def test_an_access_log_line_holds_no_key_cookie_or_query(load):
    config = load()
    logger = glogging.Logger(config)
    environ = {
        "REQUEST_METHOD": "POST",
        "RAW_URI": f"/flow-versions/7/deployments/9/enable/?token={SECRET}",
        "PATH_INFO": "/flow-versions/7/deployments/9/enable/",
        "QUERY_STRING": f"token={SECRET}",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "10.0.0.5",
        "HTTP_AUTHORIZATION": f"Basic {SECRET}",
        "HTTP_COOKIE": f"sessionid={SECRET}; csrftoken={SECRET}",
        "HTTP_REFERER": f"https://console.example.com/deployments/?q={SECRET}",
        "HTTP_X_CSRFTOKEN": SECRET,
    }
    request = SimpleNamespace(
        headers=[
            ("AUTHORIZATION", SECRET),
            ("COOKIE", f"sessionid={SECRET}"),
            ("X-CSRFTOKEN", SECRET),
        ]
    )
    response = SimpleNamespace(
        status="200 OK",
        sent=1234,
        headers=[("X-Request-ID", "4f1c2d3e4f5a6b7c"), ("Set-Cookie", f"sessionid={SECRET}")],
    )
    atoms = logger.atoms_wrapper_class(
        logger.atoms(response, request, environ, timedelta(milliseconds=42))
    )
    line = config.access_log_format % atoms
    assert SECRET not in line
    assert "POST /flow-versions/7/deployments/9/enable/ 200 1234 42ms" in line
    assert "request_id=4f1c2d3e4f5a6b7c" in line


def test_gunicorn_itself_reads_the_file():
    env = {name: value for name, value in os.environ.items() if name not in ENV_NAMES}
    result = subprocess.run(
        [sys.executable, "-m", "gunicorn", "-c", str(CONF), "--print-config", "console.wsgi"],
        cwd=REPO,
        env={**env, "GUNICORN_WORKERS": "2"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    printed = dict(
        (name.strip(), value.strip())
        for name, _, value in (line.partition("=") for line in result.stdout.splitlines())
    )
    assert printed["header_map"] == "drop"
    assert printed["workers"] == "2"
    assert printed["worker_class"] == "gthread"
