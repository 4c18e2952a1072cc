"""Smaller screenshots for the docs, with no image library: 256 colours, then deflate at level 9.

The browser that took a screenshot decodes it (a canvas on a blank page); the pixels are
reduced to at most 256 colours by median cut, weighted by how often each colour occurs (a page
is mostly flat colour, so the text's edges are what is approximated), and written back as an
indexed PNG. A desktop page of about 125 KB becomes about a third of that.
"""

from __future__ import annotations

import base64
import struct
import zlib
from collections import Counter
from pathlib import Path

from playwright.sync_api import Page

COLOURS = 256
DECODE = """async (data) => {
  const image = new Image();
  image.src = "data:image/png;base64," + data;
  await image.decode();
  const canvas = new OffscreenCanvas(image.width, image.height);
  const context = canvas.getContext("2d");
  context.drawImage(image, 0, 0);
  const pixels = context.getImageData(0, 0, image.width, image.height).data;
  let text = "";
  for (let i = 0; i < pixels.length; i += 0x8000) {
    text += String.fromCharCode.apply(null, pixels.subarray(i, i + 0x8000));
  }
  return [image.width, image.height, btoa(text)];
}"""

Colour = tuple[int, int, int]


def optimise(decoder: Page, path: Path) -> None:
    """Rewrite the PNG at `path` with at most 256 colours, decoding it in `decoder`."""
    width, height, data = decoder.evaluate(DECODE, base64.b64encode(path.read_bytes()).decode())
    rgba = base64.b64decode(data)
    pixels = [rgba[i : i + 3] for i in range(0, len(rgba), 4)]
    counts = Counter(pixels)
    colours = {bytes(key): count for key, count in counts.items()}
    palette = list(colours) if len(colours) <= COLOURS else _median_cut(colours)
    index = {colour: _nearest(colour, palette) for colour in colours}
    indices = bytes(map(index.__getitem__, pixels))
    path.write_bytes(_indexed_png(width, height, palette, indices))


def _median_cut(colours: dict[bytes, int]) -> list[bytes]:
    boxes = [list(colours)]
    while len(boxes) < COLOURS:
        box = max(boxes, key=lambda b: _spread(b) * sum(colours[c] for c in b) ** 0.5)
        if len(box) < 2 or _spread(box) == 0:
            break
        boxes.remove(box)
        channel = max(range(3), key=lambda i: max(c[i] for c in box) - min(c[i] for c in box))
        box.sort(key=lambda c: c[channel])
        half, seen, cut = sum(colours[c] for c in box) / 2, 0, 1
        for cut, colour in enumerate(box[:-1], start=1):
            seen += colours[colour]
            if seen >= half:
                break
        boxes += [box[:cut], box[cut:]]
    return [_average(box, colours) for box in boxes]


def _spread(box: list[bytes]) -> int:
    return max(max(c[i] for c in box) - min(c[i] for c in box) for i in range(3))


def _average(box: list[bytes], colours: dict[bytes, int]) -> bytes:
    total = sum(colours[c] for c in box)
    return bytes(round(sum(c[i] * colours[c] for c in box) / total) for i in range(3))


def _nearest(colour: bytes, palette: list[bytes]) -> int:
    r, g, b = colour
    return min(
        range(len(palette)),
        key=lambda i: (
            (palette[i][0] - r) ** 2 + (palette[i][1] - g) ** 2 + (palette[i][2] - b) ** 2
        ),
    )


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _indexed_png(width: int, height: int, palette: list[bytes], indices: bytes) -> bytes:
    rows = b"".join(b"\x00" + indices[y * width : (y + 1) * width] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"PLTE", b"".join(palette))
        + _chunk(b"IDAT", zlib.compress(rows, 9))
        + _chunk(b"IEND", b"")
    )
