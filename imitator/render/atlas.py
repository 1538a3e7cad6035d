"""Several frames per trip through the GL pipeline. On llvmpipe every pass over a framebuffer is handed to its
worker threads, and reading pixels back waits for them: one frame at a time, that is two passes (scene, post)
and a wait per frame. So the boxes of several frames are drawn side by side into tiles of one framebuffer
(the atlas), the post pass runs once over all of them and one read brings them all back: two hand-offs and
one wait per batch. Measured: 5-10 % less CPU to render (docs/rendering.md, "Batches"); the hand-offs cost
less than the shading of the pixels.

Rectangles here are GL's (x, y, width, height), y up. A tile holds the pixels the scene draws for one frame:
its box grown by the post pass's reach (FXAA reads that far around an output pixel), within the crop."""
from __future__ import annotations

from dataclasses import dataclass

Rect = tuple[int, int, int, int]
GAP = 2  # pixels between tiles: llvmpipe's MSAA draws were seen to bleed one pixel past a scissor's edge
MAX_PIXELS = 1 << 22  # an atlas bigger than 2048x2048 only when a single crop needs it (memory, cleared area)


@dataclass(frozen=True)
class Tile:
    box: Rect                # the frame's pixels that come back, in the crop
    drawn: Rect              # the pixels the scene draws: the box grown by the reach, within the crop
    shift: tuple[int, int]   # the tile's place in the atlas minus its place in the crop; even, so the 2x2
                             # chroma blocks of YUV 4:2:0 (the crop's, which are the frame's) stay whole

    def moved(self, rect: Rect) -> Rect:
        """A rectangle of the crop -> where it lies in the atlas."""
        return rect[0] + self.shift[0], rect[1] + self.shift[1], rect[2], rect[3]


def grown(box: Rect, by: int, width: int, height: int) -> Rect:
    """`box` grown by `by` pixels on every side, within a crop of width x height."""
    x, y, w, h = box
    x0, y0 = max(x - by, 0), max(y - by, 0)
    return x0, y0, min(x + w + by, width) - x0, min(y + h + by, height) - y0


def _even_up(n: int) -> int:
    return n + n % 2


def atlas_size(width: int, height: int, tiles: int) -> tuple[int, int]:
    """Sides (powers of two) of an atlas holding `tiles` whole crops of width x height, or as many as fit in
    MAX_PIXELS (at least one). Powers of two make the post pass's texture coordinates exact: a tap clamped to
    a tile's edge texel takes nothing from the next tile."""
    cell = _even_up(width + 1) + GAP, _even_up(height + 1) + GAP  # + 1: a tile may start a pixel late
    sides = [1 << k for k in range(1, 15)]
    fits = [(w * h, (w // cell[0]) * (h // cell[1]), w, h) for w in sides for h in sides
            if w >= cell[0] and h >= cell[1] and w >= h // 2 and h >= w // 2]
    smallest = min(fits)
    enough = [f for f in fits if f[1] >= tiles and f[0] <= max(MAX_PIXELS, smallest[0])]
    best = min(enough) if enough else max((f for f in fits if f[0] <= max(MAX_PIXELS, smallest[0])),
                                          key=lambda f: (f[1], -f[0]))
    return best[2], best[3]


def pack(boxes: list[Rect], reach: int, crop: tuple[int, int], atlas: tuple[int, int]) -> list[Tile]:
    """Tiles for the first boxes that fit in the atlas, in order, in rows from the bottom (a shelf packing);
    a crop of (width, height). Tiles never overlap, so no frame's post pass reads another frame's pixels."""
    tiles: list[Tile] = []
    x = y = row = 0
    for box in boxes:
        drawn = grown(box, reach, *crop)
        w, h = _even_up(drawn[2] + drawn[0] % 2), _even_up(drawn[3] + drawn[1] % 2)
        if x + w > atlas[0]:
            x, y, row = 0, y + row + GAP, 0
        if x + w > atlas[0] or y + h > atlas[1]:
            break
        shift = (x + drawn[0] % 2 - drawn[0], y + drawn[1] % 2 - drawn[1])
        tiles.append(Tile(box, drawn, shift))
        x, row = x + w + GAP, max(row, h)
    return tiles
