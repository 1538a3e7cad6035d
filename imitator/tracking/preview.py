"""The tracking preview for people: the tracked mesh over one video frame, and the lip distance over time."""
from __future__ import annotations

import os

import numpy as np

from ..topology import MEDIAPIPE_468, lip_distance
from .result import TrackResult


def save_preview(result: TrackResult, path: str | os.PathLike) -> None:
    """A PNG for people: the tracked mesh over one video frame, and the lip distance over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.collections import LineCollection

    if result.preview is None:
        raise ValueError("this result has no preview frame (results loaded from .npz do not keep one)")
    p = result.preview
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5.5), gridspec_kw={"width_ratios": [1, 1.4]})
    left.imshow(p.image)
    edges = p.pixels[np.r_[result.faces[:, [0, 1]], result.faces[:, [1, 2]], result.faces[:, [2, 0]]]]
    left.add_collection(LineCollection(edges, colors="lime", linewidths=0.3, alpha=0.8))
    lips = p.pixels[np.r_[MEDIAPIPE_468.lip_inner, MEDIAPIPE_468.lip_inner[:1]]]
    left.plot(lips[:, 0], lips[:, 1], color="red", linewidth=0.8)
    lo, hi = p.pixels.min(0), p.pixels.max(0)  # zoom on the face, with a margin of half its size
    margin = 0.5 * (hi - lo).max()
    left.set_xlim(max(lo[0] - margin, 0), min(hi[0] + margin, p.image.shape[1]))
    left.set_ylim(min(hi[1] + margin, p.image.shape[0]), max(lo[1] - margin, 0))
    left.set_title(f"{result.metadata.get('source', {}).get('file', '')}, frame {p.frame_index}")
    left.axis("off")
    seconds = np.arange(len(result.vertices)) / result.fps
    distance = lip_distance(result.vertices)
    right.plot(seconds, distance, color="black", linewidth=1)
    if not result.valid.all():
        right.fill_between(seconds, 0, distance.max(), where=~result.valid, color="red", alpha=0.2,
                           label="no face (invalid)")
    right.axvline(p.frame_index / result.fps, color="green", linestyle="--", label="frame shown")
    right.set_xlabel("time (s)")
    right.set_ylabel("lip distance (mm, inner lip mid points 13-14)")
    right.set_ylim(bottom=0)
    right.legend(loc="upper right")
    right.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
