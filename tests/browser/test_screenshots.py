"""The docs' pictures: four per moment, the sizes asked for, and indexed (small) PNG files."""

from __future__ import annotations

import struct

import pytest

from tests.browser.screenshots import shoot

pytestmark = pytest.mark.browser
PAGE = """<style>body { background: #fff; color: #123 }
@media (prefers-color-scheme: dark) { body { background: #111; color: #eee } }</style>
<h1>Deployments</h1><p>Every flow version placed into an environment.</p>"""


def _header(data: bytes) -> tuple[int, int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height, _depth, colour_type = struct.unpack(">IIBB", data[16:26])
    return width, height, colour_type


def test_a_moment_is_saved_light_and_dark_on_desktop_and_phone(browser, tmp_path):
    context = browser.new_context(viewport={"width": 800, "height": 600})
    page = context.new_page()
    page.set_content(PAGE)
    written = shoot(page, "example", folder=str(tmp_path))
    assert sorted(path.name for path in written) == [
        f"example-{device}-{scheme}.png"
        for device in ("desktop", "phone")
        for scheme in ("dark", "light")
    ]
    sizes = {path.name: _header(path.read_bytes()) for path in written}
    assert sizes["example-desktop-light.png"] == (1280, 800, 3)  # 3: indexed colour
    assert sizes["example-phone-dark.png"] == (390, 844, 3)
    light, dark = (tmp_path / f"example-desktop-{s}.png" for s in ("light", "dark"))
    assert light.read_bytes() != dark.read_bytes()
    assert page.viewport_size == {"width": 1280, "height": 800}
    context.close()


def test_without_a_folder_nothing_is_saved(browser):
    page = browser.new_page()
    assert shoot(page, "example", folder="") == []
    page.close()
