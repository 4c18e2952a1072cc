"""Pictures for the docs, taken by the journeys that walk what the pictures show.

`make screenshots` sets CONSOLE_SCREENSHOTS to docs/images and runs those journeys; `shoot`
then saves the page in light and dark, on a desktop (1280x800) and a phone (390x844), as
`<name>-<desktop|phone>-<light|dark>.png`, and makes each file smaller (tests/browser/png.py).
Without the variable it does nothing, so the journeys run as ordinary tests.
"""

from __future__ import annotations

import os
from pathlib import Path

from playwright.sync_api import Locator, Page

from tests.browser.png import optimise

FOLDER = os.environ.get("CONSOLE_SCREENSHOTS", "")
DESKTOP = {"width": 1280, "height": 800}
SIZES = {"desktop": DESKTOP, "phone": {"width": 390, "height": 844}}
SCHEMES = ("light", "dark")


def shoot(
    page: Page,
    name: str,
    *,
    show: Locator | None = None,
    block: str = "center",
    folder: str = FOLDER,
) -> list[Path]:
    """Save the page as it is now in each size and colour scheme, scrolled to put `show` (when
    given) at `block` of the view ("center", "end"…); the files written."""
    if not folder:
        return []
    Path(folder).mkdir(parents=True, exist_ok=True)
    written = []
    decoder = page.context.new_page()
    try:
        for scheme in SCHEMES:
            page.emulate_media(color_scheme=scheme)
            for device, size in SIZES.items():
                page.set_viewport_size(size)
                if show is not None:
                    show.evaluate("(e, block) => e.scrollIntoView({block})", block)
                page.evaluate("() => new Promise(requestAnimationFrame)")
                path = Path(folder) / f"{name}-{device}-{scheme}.png"
                page.screenshot(path=path, animations="disabled", caret="hide")
                optimise(decoder, path)
                written.append(path)
    finally:
        decoder.close()
        page.emulate_media(color_scheme="light")
        page.set_viewport_size(DESKTOP)
    return written
