"""The rooms keep to their doors: who may import requests, urllib3 and the transport."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "deployments_ui"
HTTP_LIBRARIES = ("requests", "urllib3")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _modules() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py") if "migrations" not in path.parts)


def _imports_any(path: Path, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(f"{p}.") for name in _imports(path) for p in prefixes)


# The one other caller: OpenID Connect reads the identity provider's discovery document with
# requests, the library mozilla-django-oidc makes all its other provider calls with.
IDENTITY_PROVIDER = PACKAGE / "accounts" / "oidc.py"


@pytest.mark.parametrize("path", _modules(), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_only_the_patchworks_room_imports_an_http_library(path):
    inside = path.relative_to(PACKAGE).parts[0] == "patchworks" or path == IDENTITY_PROVIDER
    assert inside or not _imports_any(path, HTTP_LIBRARIES)


def test_the_check_sees_the_transport_import_http():
    assert _imports_any(PACKAGE / "patchworks" / "transport.py", HTTP_LIBRARIES)
    assert not _imports_any(PACKAGE / "patchworks" / "client.py", HTTP_LIBRARIES)


@pytest.mark.parametrize(
    "path",
    [p for p in _modules() if p.relative_to(PACKAGE).parts[0] != "patchworks"],
    ids=lambda path: str(path.relative_to(PACKAGE)),
)
def test_outside_the_room_nothing_imports_its_modules(path):
    """Everyone else goes through `deployments_ui.patchworks` itself, never its parts."""
    assert not _imports_any(path, ("deployments_ui.patchworks.transport",))
    assert not _imports_any(path, ("deployments_ui.patchworks.client",))


# The rooms and their layers (docs/DESIGN.md, "Which may import which"): a module may import its
# own room and rooms of a lower layer, never one beside or above it.
LAYERS = {
    "core": 1,
    "patchworks": 2,
    "audit": 3,
    "flow_health": 3,
    "tokens": 3.5,
    "accounts": 4,
    "saved_views": 4,
    "notifications": 5,
    "drift": 5,
    "changes": 6,
    "deployments": 7,
    "schedules": 8,
    "bulk": 8,
    "worker": 9,
    "leavers": 9,
    "change_calendar": 9,
    "forms": 10,
    "formats": 10,
    "rows": 10,
    "presenters": 10.5,
    "views": 11,
    "api": 11,
    "templatetags": 11,
}
WIRING = 12  # urls, apps, admin, middleware, context_processors, tasks, models, management
WRITE_METHODS = {
    "create_deployment",
    "update_deployment",
    "delete_deployment",
    "enable_deployment",
    "disable_deployment",
}
MAX_LINES = 500


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = [part for part in relative.parts if part != "__init__"]
    return ".".join(parts)


def _layer(room: str) -> float:
    return LAYERS.get(room, WIRING)


def _console_imports(path: Path) -> set[str]:
    """The console modules `path` imports, as `deployments_ui.<room>...` names."""
    names = set()
    for name in _imports(path):
        if name.startswith("deployments_ui."):
            names.add(name)
    return names


@pytest.mark.parametrize("path", _modules(), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_no_import_runs_up_the_layers(path):
    room = _room(_module_name(path))
    upward = sorted(
        name
        for name in _console_imports(path)
        if _room(name) != room and _room(name) in LAYERS and _layer(_room(name)) >= _layer(room)
    )
    assert not upward, f"{path.name} ({room}) imports {upward}"


def test_the_layer_check_sees_an_upward_import():
    assert _layer("views") > _layer("deployments") > _layer("changes") > _layer("core")
    assert _layer(_room("deployments_ui.urls")) == WIRING


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(path): path for path in _modules()}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for imported in _console_imports(path):
            while imported and imported not in modules:
                imported = imported.rpartition(".")[0]
            if imported and imported != name:
                targets.add(imported)
        graph[name] = targets
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in graph.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_circles():
    graph = _graph()
    # A package's __init__ importing its own parts is a door, not a circle.
    for name in graph:
        graph[name] = {t for t in graph[name] if not name.startswith(f"{t}.")}
    assert _cycles(graph) == []


def test_the_circle_check_finds_a_circle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _references(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.Name):
            names.add(node.id)
    return names


@pytest.mark.parametrize("path", _modules(), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_one_module_writes_to_patchworks(path):
    """Only the one write path calls the client's write methods and records attempts."""
    relative = path.relative_to(PACKAGE).as_posix()
    if relative.startswith("patchworks/") or relative.startswith("audit/"):
        return
    used = _references(path)
    if relative != "deployments/writes.py":
        assert not used & WRITE_METHODS, f"{relative} calls {sorted(used & WRITE_METHODS)}"
        assert "record_attempt" not in used, f"{relative} records attempts"
    if relative not in ("deployments/writes.py", "deployments/settling.py"):
        assert "record_outcome" not in used, f"{relative} records outcomes"


def test_the_writer_check_sees_the_write_path():
    assert _references(PACKAGE / "deployments" / "writes.py") & WRITE_METHODS == WRITE_METHODS


@pytest.mark.parametrize("path", _modules(), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_no_module_is_over_500_lines(path):
    assert len(path.read_text().splitlines()) <= MAX_LINES


@pytest.mark.parametrize("path", _modules(), ids=lambda path: str(path.relative_to(PACKAGE)))
def test_rooms_import_their_own_models(path):
    """The model registry is for Django, the admin and the tests; rooms import their own."""
    if path.name in ("admin.py", "models.py") and path.parent == PACKAGE:
        return
    assert "deployments_ui.models" not in _imports(path)


@pytest.mark.parametrize(
    "path",
    sorted((PACKAGE / "core").rglob("*.py")),
    ids=lambda path: str(path.relative_to(PACKAGE)),
)
def test_core_imports_nothing_of_the_console(path):
    outside = [name for name in _console_imports(path) if _room(name) != "core"]
    assert not outside
