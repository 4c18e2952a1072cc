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
