"""Time: resampling detections to a fixed frame rate, finding the gaps to fill, and temporal smoothing."""
from __future__ import annotations

import numpy as np

from ..topology import MEDIAPIPE_468, lip_distance

EYELIDS = ((159, 145), (386, 374))  # upper and lower eyelid midpoints: right eye, left eye


def resample(times: np.ndarray, values: np.ndarray, grid: np.ndarray, fps: float):
    """Linear interpolation of per-frame values onto `grid` times; also whether a sample is within a frame."""
    idx = np.clip(np.searchsorted(times, grid), 1, len(times) - 1) if len(times) > 1 else np.zeros(len(grid), int)
    if len(times) == 1:
        out = np.repeat(values, len(grid), axis=0)
    else:
        t0, t1 = times[idx - 1], times[idx]
        w = np.clip((grid - t0) / np.maximum(t1 - t0, 1e-9), 0.0, 1.0)[:, None, None]
        out = (1 - w) * values[idx - 1] + w * values[idx]
    nearest = np.min(np.abs(times[None, :] - grid[:, None]), axis=1)
    return out, nearest <= 1.0 / fps


def find_gaps(detected: np.ndarray, max_len: float):
    """Runs of frames without a face, [start, end); frames in runs up to `max_len` long count as valid."""
    valid = detected.copy()
    gaps = []
    edges = np.flatnonzero(np.diff(np.r_[1, detected.astype(np.int8), 1]))
    for a, b in zip(edges[::2], edges[1::2]):
        gaps.append((int(a), int(b)))
        if b - a <= max_len:
            valid[a:b] = True
    return valid, gaps


def smooth(vertices: np.ndarray, sigma: float, keep_mm: float, rigid_sigma: float) -> np.ndarray:
    """Temporal smoothing that keeps lip closures and blinks.

    A plain low-pass filter lifts a 1-2 frame lip closure by millimetres (measured: docs/tracking.md). Here
    each frame averages its neighbours with a Gaussian weight in time times a Gaussian weight on how much
    the mouth and eye openings differ (a bilateral filter, range sigma `keep_mm`): jitter between similar
    frames is averaged away, a closure is not mixed with the open frames around it. The rigid vertices
    carry no expression, so they get a plain, stronger Gaussian."""
    from scipy.ndimage import gaussian_filter1d

    out = vertices.copy()
    if sigma > 0:
        openings = np.stack([lip_distance(vertices)] + [
            np.linalg.norm(vertices[:, upper] - vertices[:, lower], axis=-1) for upper, lower in EYELIDS], 1)
        n, radius = len(vertices), int(np.ceil(3 * sigma))
        frames = np.arange(n)
        total, weight = np.zeros_like(vertices), np.zeros(n)
        for offset in range(-radius, radius + 1):
            other = np.clip(frames + offset, 0, n - 1)
            w = np.exp(-offset ** 2 / (2 * sigma ** 2)
                       - np.sum((openings[other] - openings) ** 2, axis=1) / (2 * keep_mm ** 2))
            total += w[:, None, None] * vertices[other]
            weight += w
        out = total / weight[:, None, None]
    if rigid_sigma > 0:
        rigid = MEDIAPIPE_468.rigid
        out[:, rigid] = gaussian_filter1d(vertices[:, rigid], rigid_sigma, axis=0, mode="nearest")
    return out
