"""Text and legends over rendered frames: drawn once with PIL, then blended onto every frame."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .colormap import heat_colors


@dataclass(frozen=True)
class Overlay:
    """Text and legends drawn once with PIL, then alpha-blended onto every frame (only where they are)."""

    rgb: np.ndarray    # (h, w, 3) float32, the drawn box only
    alpha: np.ndarray  # (h, w, 1) float32
    box: tuple         # (row slice, column slice) of the frame that the overlay covers

    @classmethod
    def from_image(cls, image) -> "Overlay":
        a = np.asarray(image, dtype=np.float32) / 255
        rows, cols = np.nonzero(a[..., 3])
        box = (slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1))
        a = a[box]
        return cls(255 * a[..., :3] * a[..., 3:], a[..., 3:], box)

    def apply(self, frame: np.ndarray) -> np.ndarray:
        """Blends into `frame` in place (callers pass frames they own) and returns it."""
        frame[self.box] = (frame[self.box] * (1 - self.alpha) + self.rgb + 0.5).astype(np.uint8)
        return frame


def _font(height: int):
    from PIL import ImageFont

    return ImageFont.load_default(size=max(10, height // 32))  # bundled with Pillow: no system fonts


def label_overlay(labels: Sequence[str], width: int, height: int) -> Overlay:
    """A caption centred at the top of each panel, on a translucent dark pill."""
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (width * len(labels), height), (0, 0, 0, 0))
    draw, font = ImageDraw.Draw(image), _font(height)
    pad = font.size // 2
    for i, text in enumerate(labels):
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        x = i * width + (width - (right - left)) // 2
        y = pad
        draw.rounded_rectangle((x - pad, y - pad // 2, x + right - left + pad, y + bottom + pad // 2),
                               radius=pad, fill=(0, 0, 0, 110))
        draw.text((x - left, y), text, font=font, fill=(235, 235, 235, 255))
    return Overlay.from_image(image)


def colorbar_overlay(vmax: float, width: int, height: int) -> Overlay:
    """A vertical colour bar at the right edge, labelled in mm."""
    from PIL import Image, ImageDraw

    w, h = width, height
    font = _font(height)
    bar_w, bar_h = max(8, w // 40), h // 2
    x1 = w - font.size
    x0, y0 = x1 - bar_w, (h - bar_h) // 2
    ramp = heat_colors(np.linspace(vmax, 0, bar_h), vmax)  # top of the bar = vmax
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[y0:y0 + bar_h, x0:x1, :3] = (ramp[:, None] * 255).astype(np.uint8)
    rgba[y0:y0 + bar_h, x0:x1, 3] = 255
    image = Image.fromarray(rgba, "RGBA")
    draw = ImageDraw.Draw(image)
    draw.rectangle((x0 - 1, y0 - 1, x1, y0 + bar_h), outline=(220, 220, 220, 255))
    for value in (0.0, vmax / 2, vmax):
        y = y0 + round((1 - value / vmax) * (bar_h - 1))
        text = f"{value:g}"
        draw.line((x0 - 5, y, x0 - 1, y), fill=(220, 220, 220, 255))
        draw.text((x0 - 8, y), text, font=font, fill=(235, 235, 235, 255), anchor="rm")
    draw.text(((x0 + x1) // 2, y0 - font.size), "mm", font=font, fill=(235, 235, 235, 255), anchor="mm")
    return Overlay.from_image(image)
