"""A URL include whose module is imported on first use, not when the URLconf loads."""

from __future__ import annotations

import threading
from typing import Any

from django.urls import URLResolver
from django.urls.resolvers import RoutePattern

_lock = threading.Lock()


class LazyInclude(URLResolver):
    """`include(module, namespace=...)` for a module with heavy imports that most workers never
    need: loaded when a path under `prefix` is resolved or one of its names is reversed.

    Django fills a URLconf's reverse tables by asking every included resolver to fill its own;
    a namespaced one is only looked up later, by its namespace, so until then this one has
    nothing to add and stays unloaded.
    """

    def __init__(self, prefix: str, module: str, namespace: str) -> None:
        super().__init__(RoutePattern(prefix), module, app_name=namespace, namespace=namespace)
        self._loaded = False

    def load(self) -> None:
        with _lock:
            if not self._loaded:
                self._loaded = True
                super()._populate()

    def _populate(self) -> None:
        if self._loaded:
            super()._populate()

    def resolve(self, path: Any) -> Any:
        if self.pattern.match(str(path)):
            self.load()
        return super().resolve(path)

    @property
    def reverse_dict(self) -> Any:
        self.load()
        return super().reverse_dict

    @property
    def namespace_dict(self) -> Any:
        self.load()
        return super().namespace_dict

    @property
    def app_dict(self) -> Any:
        self.load()
        return super().app_dict
