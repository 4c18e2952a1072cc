"""What a Patchworks id looks like in the console's URLs (as the client accepts one)."""

from __future__ import annotations

import re

PATCHWORKS_ID = r"[A-Za-z0-9_-]{1,64}"


def is_patchworks_id(value: str) -> bool:
    return re.fullmatch(PATCHWORKS_ID, value) is not None


class PatchworksIdConverter:
    """Anything else is a plain 404 at the URL, before a view (or a header such as
    HX-Retarget) ever sees it."""

    regex = PATCHWORKS_ID

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: object) -> str:
        return str(value)
