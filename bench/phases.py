"""Where the console's own time goes, phase by phase, in-process: the 100-row list and the
enable/disable fragment.

    .venv/bin/python bench/phases.py [--iterations 300]

Starts a sandbox (bench/stack.py) only to record real Patchworks answers (a 100-row list with
relations, the pickers, one deployment enabled and disabled), then runs the console in this
process (Django's test client, DEBUG off, SQLite in a temporary folder) with the HTTP call
replaced by those recorded bodies: what is left is the console's own CPU time. Every phase is
the median over the iterations of the time spent inside the functions named beside it:

- session, user, permissions: session load/save, `auth.get_user`, the permission lookups;
- upstream call (stubbed): the stand-in for `transport.send`, without the JSON decoding;
- JSON decoding: `json.loads` of the recorded body (what requests' `.json()` does);
- JSON -> typed objects: `parse_page` / `parse_one` (dataclasses);
- rows (presenters): `list_context` (rows, schedule badges, columns, pager);
- template rendering: `rendered_content` of the response;
- gzip: `compress_string` in GZipMiddleware;
- the rest: the middleware, URL routing, the view, the filter form, the audit trail.

The template is then split by rendering its pieces alone (the table with its rows, the rows, the
filter form; the page shell is what is left), and the database queries of one request are
counted. Nothing is asserted: figures vary with the machine; the load average is printed.
"""

from __future__ import annotations

import argparse
import gzip
import importlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.stack import LIST_INCLUDE, Stack, fernet_key, machine  # noqa: E402

PER_PAGE = 100
# CPU time of this thread by default: what the console itself spends, whatever else the machine
# is doing (`--clock wall` for time.perf_counter).
clock = time.thread_time


def record(stack: Stack) -> dict:
    """Real answers from the sandbox, as the console's client would receive them."""
    upstream = stack.upstream()
    base = f"{stack.sandbox_url}/api/v1"

    def get(path: str, **params: str) -> bytes:
        response = upstream.get(f"{base}{path}", params=params, timeout=30)
        response.raise_for_status()
        return response.content

    listing = get(
        "/flow-version-deployments", include=LIST_INCLUDE, page="1", per_page=str(PER_PAGE)
    )
    ours = json.loads(get("/flow-version-deployments", **{"filter[global]": "0", "per_page": "1"}))
    ours = ours["data"][0]
    path = f"/flow-versions/{ours['flow_version_id']}/deployments/{ours['id']}"
    states = {}
    for action in ("enable", "disable"):
        upstream.post(f"{base}{path}/{action}", timeout=30).raise_for_status()
        states[action] = get(path, include=LIST_INCLUDE)

    def fetch(path: str, params: dict | None) -> bytes:
        return get(path, **(params or {}))

    return {"list": listing, "path": path, "states": states, "other": {}, "fetch": fetch}


class Phases:
    """Time spent inside wrapped functions, per request (outermost call only)."""

    def __init__(self) -> None:
        self.current: dict[str, float] = defaultdict(float)
        self.depth: dict[str, int] = defaultdict(int)

    def wrap(self, owner, name: str, phase: str, *, prop: bool = False) -> None:
        original = getattr(owner, name)
        target = original.fget if prop else original
        phases = self

        def timed(*args, **kwargs):
            if phases.depth[phase]:
                return target(*args, **kwargs)
            phases.depth[phase] += 1
            started = clock()
            try:
                return target(*args, **kwargs)
            finally:
                phases.current[phase] += clock() - started
                phases.depth[phase] -= 1

        setattr(owner, name, property(timed) if prop else timed)

    def add(self, phase: str, seconds: float) -> None:
        self.current[phase] += seconds

    def take(self) -> dict[str, float]:
        taken, self.current = dict(self.current), defaultdict(float)
        return taken


def set_up_django(workdir: Path, sandbox_url: str, redis_url: str | None) -> None:
    if redis_url:
        os.environ["REDIS_URL"] = redis_url
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "console.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": "bench-" + "x" * 50,
            "DJANGO_ALLOWED_HOSTS": "testserver",
            "CONSOLE_ENCRYPTION_KEYS": fernet_key(),
            "CONSOLE_SECURE_COOKIES": "0",
            "PATCHWORKS_BASE_URL": sandbox_url,
            "DATABASE_URL": f"sqlite:///{workdir / 'console.sqlite3'}",
            "CONSOLE_LOG_LEVEL": "WARNING",
        }
    )
    import django
    from django.core.management import call_command

    django.setup()
    # Production serves the manifest-hashed files, as bench/stack.py's console does.
    call_command("collectstatic", "--noinput", verbosity=0)
    call_command("migrate", verbosity=0)
    with open(os.devnull, "w") as quiet:
        call_command("demo_setup", "--force-demo", "--no-change-control", stdout=quiet)


def instrument(recorded: dict) -> tuple[Phases, dict]:
    import django.contrib.auth as auth
    import django.middleware.gzip as gzip_middleware
    from django.conf import settings
    from django.contrib.auth.backends import ModelBackend
    from django.template.response import SimpleTemplateResponse

    from deployments_ui.patchworks import client, transport
    from deployments_ui.views import deployments as list_views

    SessionStore = importlib.import_module(settings.SESSION_ENGINE).SessionStore
    phases = Phases()
    state = {"enabled": False}

    def stub_send(key, method, path, *, params, payload, not_found):
        if method == "GET" and path == "/flow-version-deployments":
            body = recorded["list"]
        elif method == "GET" and path == recorded["path"]:
            body = recorded["states"]["enable" if state["enabled"] else "disable"]
        elif method == "POST" and path.startswith(recorded["path"]):
            state["enabled"] = path.endswith("/enable")
            body = recorded["states"]["enable" if state["enabled"] else "disable"]
        elif method == "GET":  # the pickers' lists: recorded when first asked for
            key = (path, tuple(sorted((params or {}).items())))
            if key not in recorded["other"]:
                recorded["other"][key] = recorded["fetch"](path, params)
            body = recorded["other"][key]
        else:
            raise RuntimeError(f"no recorded answer for {method} {path}")
        started = clock()
        decoded = json.loads(body)
        phases.add("JSON decoding", clock() - started)
        return decoded

    transport.send = stub_send
    phases.wrap(transport, "send", "upstream call (stubbed)")
    phases.wrap(client, "parse_page", "JSON -> typed objects")
    phases.wrap(client, "parse_one", "JSON -> typed objects")
    phases.wrap(list_views, "list_context", "rows (presenters)")
    phases.wrap(SimpleTemplateResponse, "rendered_content", "template rendering", prop=True)
    phases.wrap(gzip_middleware, "compress_string", "gzip")
    for owner, name in (
        (SessionStore, "load"),
        (SessionStore, "save"),
        (auth, "get_user"),
        (ModelBackend, "get_all_permissions"),
        (ModelBackend, "get_group_permissions"),
        (ModelBackend, "get_user_permissions"),
    ):
        phases.wrap(owner, name, "session, user, permissions")
    return phases, state


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def run(request, phases: Phases, iterations: int) -> tuple[dict[str, float], float]:
    totals, per_phase = [], defaultdict(list)
    for _ in range(iterations):
        phases.take()
        started = clock()
        request()
        totals.append(clock() - started)
        for phase, seconds in phases.take().items():
            per_phase[phase].append(seconds)
    # Phases some iterations skip (none here) would count as zero in those.
    medians = {phase: median_ms(values) for phase, values in per_phase.items()}
    return medians, median_ms(totals)


ORDER = (
    "session, user, permissions",
    "upstream call (stubbed)",
    "JSON decoding",
    "JSON -> typed objects",
    "rows (presenters)",
    "template rendering",
    "gzip",
)


def show(title: str, medians: dict[str, float], total: float) -> None:
    print(f"{title}: {total:.2f} ms in all (median)")
    accounted = 0.0
    for phase in ORDER:
        if phase in medians:
            value = medians[phase]
            if phase == "upstream call (stubbed)":
                value -= medians.get("JSON decoding", 0)
            accounted += value
            print(f"  {phase:<30} {value:6.2f} ms")
    print(f"  {'the rest (middleware, view)':<30} {total - accounted:6.2f} ms")


def template_pieces(iterations: int, client_, url: str) -> dict[str, float]:
    """Render the list's pieces alone with the context of a real request."""
    from django.template import engines
    from django.template.loader import render_to_string
    from django.template.response import SimpleTemplateResponse

    seen = {}
    original = SimpleTemplateResponse.resolve_context

    def keep(self, context):
        seen["context"], seen["request"] = context, getattr(self, "_request", None)
        return original(self, context)

    SimpleTemplateResponse.resolve_context = keep
    client_.get(url)
    SimpleTemplateResponse.resolve_context = original
    context, request = seen["context"], seen["request"]
    django_engine = engines["django"]
    form_only = django_engine.from_string(
        '{% for field in form.visible_fields %}{% include "forms/field.html" %}{% endfor %}'
    )
    rows_only = django_engine.from_string("{% load console_tags %}{% deployment_rows rows %}")
    # The same rows in Django's template language, as they were rendered before Jinja2.
    reference = (ROOT / "tests" / "templates" / "reference_deployment_row.html").read_text()
    rows_django = django_engine.from_string(
        "{% load i18n %}{% for row in rows %}" + reference + "{% endfor %}"
    )

    def timed(render) -> float:
        values = []
        for _ in range(iterations):
            started = clock()
            render()
            values.append(clock() - started)
        return median_ms(values)

    page = "deployments_ui/deployment_list.html"
    return {
        "page": timed(lambda: render_to_string(page, context, request)),
        "table": timed(lambda: render_to_string(page + "#deployment-table", context, request)),
        "rows": timed(lambda: rows_only.render(context, request)),
        "rows (DTL)": timed(lambda: rows_django.render(context, request)),
        "filter form": timed(lambda: form_only.render(context, request)),
    }


def count_queries(call) -> list[str]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        call()
    return [query["sql"] for query in captured.captured_queries]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", type=int, default=300)
    parser.add_argument("--queries", action="store_true", help="print each request's SQL")
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu")
    parser.add_argument(
        "--profile",
        choices=("page", "table", "toggle"),
        help="instead of the phases, print cProfile's 40 costliest functions for that request",
    )
    parser.add_argument(
        "--redis-url", help="the console's cache in Redis (and sessions in cached_db), as deployed"
    )
    args = parser.parse_args()
    global clock
    clock = time.perf_counter if args.clock == "wall" else time.thread_time
    stack = Stack()
    try:
        stack._start_sandbox()
        recorded = record(stack)
        with tempfile.TemporaryDirectory(prefix="console-phases-") as workdir:
            set_up_django(Path(workdir), stack.sandbox_url, args.redis_url)
            measure(recorded, args)
    finally:
        stack.stop()


def profile(call, iterations: int) -> None:
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(iterations):
        call()
    profiler.disable()
    # PROFILE_SORT=cumulative, PROFILE_FILTER=deployments_ui narrow the table.
    stats = pstats.Stats(profiler).sort_stats(os.environ.get("PROFILE_SORT", "tottime"))
    stats.print_stats(os.environ.get("PROFILE_FILTER", ""), 40)


def measure(recorded: dict, args) -> None:
    from django.test import Client

    phases, state = instrument(recorded)
    client_ = Client(HTTP_ACCEPT_ENCODING="gzip")
    from django.contrib.auth.models import User

    client_.force_login(User.objects.get(username="operator"))
    url = f"/deployments/?per_page={PER_PAGE}"

    def page():
        response = client_.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"list gave {response.status_code}")

    def table():
        response = client_.get(url, headers={"HX-Request": "true"})
        if response.status_code != 200:
            raise RuntimeError(f"table gave {response.status_code}")

    toggle_base = recorded["path"]  # the console's URL for a deployment is the API's path

    def toggle():
        action = "disable" if state["enabled"] else "enable"
        response = client_.post(
            f"{toggle_base}/{action}/",
            {"fragment": "row", "next": "/deployments/", "reason": ""},
            headers={"HX-Request": "true", "HX-Current-URL": "http://testserver/deployments/"},
        )
        body = gzip.decompress(response.content)
        if response.status_code != 200 or not body.startswith(b"<tr"):
            raise RuntimeError(f"toggle gave {response.status_code}: {response.content[:300]}")

    for call in (page, table, toggle):
        for _ in range(20):
            call()
    if args.profile:
        profile({"page": page, "table": table, "toggle": toggle}[args.profile], args.iterations)
        return
    what = "CPU time of this thread" if args.clock == "cpu" else "wall-clock time"
    print(f"phases ({args.iterations} runs each, medians of {what}, {machine()})")
    for title, call in (
        (f"{PER_PAGE}-row list, full page", page),
        (f"{PER_PAGE}-row list, htmx table", table),
        ("enable/disable fragment", toggle),
    ):
        medians, total = run(call, phases, args.iterations)
        show(title, medians, total)
        queries = count_queries(call)
        print(f"  database queries: {len(queries)}")
        if args.queries:
            for sql in queries:
                print(f"    {sql[:160]}")
    pieces = template_pieces(args.iterations, client_, url)
    shell = pieces["page"] - pieces["table"] - pieces["filter form"]
    print(
        f"template pieces alone: page {pieces['page']:.2f} ms = table {pieces['table']:.2f} ms "
        f"(rows {pieces['rows']:.2f} ms; in Django's template language "
        f"{pieces['rows (DTL)']:.2f} ms) "
        f"+ filter form {pieces['filter form']:.2f} ms "
        f"+ page shell {shell:.2f} ms"
    )


if __name__ == "__main__":
    main()
