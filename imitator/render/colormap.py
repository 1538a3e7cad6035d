"""The error colour scale of heat maps, and a round number for its top."""
from __future__ import annotations

import numpy as np

# From "fine" to "far off" (sRGB anchors, evenly spaced): a softened jet.
_HEAT_ANCHORS = np.array([[0.17, 0.25, 0.70], [0.25, 0.60, 0.90], [0.45, 0.82, 0.60],
                          [0.98, 0.86, 0.30], [0.95, 0.45, 0.15], [0.75, 0.08, 0.10]], dtype=np.float32)


def heat_colors(values: np.ndarray, vmax: float) -> np.ndarray:
    """Values in [0, vmax] (clipped) -> sRGB colours (..., 3) on the error colour scale."""
    t = np.clip(np.asarray(values, dtype=np.float32) / vmax, 0, 1) * (len(_HEAT_ANCHORS) - 1)
    i = np.minimum(t.astype(int), len(_HEAT_ANCHORS) - 2)
    w = (t - i)[..., None]
    return (1 - w) * _HEAT_ANCHORS[i] + w * _HEAT_ANCHORS[i + 1]


def nice_vmax(errors: np.ndarray) -> float:
    """A round colour-scale maximum (1, 2 or 5 x 10^k mm) at or above the errors' 99th percentile."""
    p = float(np.percentile(errors, 99)) if np.size(errors) else 0.0
    p = max(p, 0.1)
    exponent = np.floor(np.log10(p))
    for step in (1, 2, 5, 10):
        if step * 10 ** exponent >= p:
            return float(step * 10 ** exponent)
    return float(10 ** (exponent + 1))
