"""Eye blinks added to an animation: the model says nothing about the eyes, and a face that never blinks
looks dead.

    closure = blink_closure(len(vertices), fps)          # (T,) 0 open ... 1 shut
    vertices = apply_blinks(vertices, closure)           # upper and lower lids meet, the skin above follows

People blink about 15 times a minute at rest and less while speaking; a blink takes ~150 ms, closing faster
than it opens. Intervals here are random (1.5 s plus a gamma-distributed wait, mean `mean_interval_s`) and
seeded, so one animation always blinks the same way.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .topology import MEDIAPIPE_468, Topology


@dataclass(frozen=True)
class BlinkConfig:
    mean_interval_s: float = 4.0   # from one blink to the next, on average
    min_interval_s: float = 1.5    # never closer than this
    duration_s: float = 0.15       # shut to open again
    closing_share: float = 0.4     # the part of a blink spent closing (the rest is opening)
    seed: int = 0


def blink_starts(seconds: float, config: BlinkConfig = BlinkConfig()) -> np.ndarray:
    """Times (s) at which blinks begin within `seconds`."""
    rng = np.random.default_rng(config.seed)
    spread = max(config.mean_interval_s - config.min_interval_s, 1e-3)
    starts, t = [], rng.uniform(0.3, config.mean_interval_s)
    while t < seconds - config.duration_s:
        starts.append(t)
        t += config.min_interval_s + rng.gamma(2.0, spread / 2.0)  # gamma(2): few very short or long waits
    return np.asarray(starts)


def blink_closure(n_frames: int, fps: float, config: BlinkConfig = BlinkConfig()) -> np.ndarray:
    """(T,) how shut the eyes are in each frame: 0 open, 1 shut. Each blink is shut on exactly one frame
    (its start is moved so that the moment of full closure falls on a frame, which a 30 fps video would
    otherwise skip half the time)."""
    t = np.arange(n_frames) / fps
    closure = np.zeros(n_frames, np.float32)
    close = config.closing_share * config.duration_s
    for start in blink_starts(n_frames / fps, config):
        shut = np.round((start + close) * fps) / fps
        phase = t - shut   # < 0 closing, > 0 opening
        closing = (phase <= 0) & (phase > -close)
        opening = (phase > 0) & (phase < config.duration_s - close)
        profile = np.zeros(n_frames, np.float32)
        profile[closing] = np.cos(0.5 * np.pi * phase[closing] / close)
        profile[opening] = np.cos(0.5 * np.pi * phase[opening] / (config.duration_s - close))
        closure = np.maximum(closure, profile)
    return closure


def apply_blinks(vertices: np.ndarray, closure: np.ndarray, topology: Topology = MEDIAPIPE_468) -> np.ndarray:
    """(T, V, 3) -> a copy in which each eye's lids close by `closure` (T,): at 1 the upper lid (most of the
    way) and the lower lid (a little) meet; the skin next to the lids follows part of the way."""
    vertices = np.asarray(vertices, np.float32)
    closure = np.asarray(closure, np.float32)
    if len(closure) != len(vertices):
        raise ValueError(f"closure has {len(closure)} frames, the vertices {len(vertices)}")
    out = vertices.copy()
    blinking = closure > 0
    if not blinking.any():
        return out
    v = vertices[blinking]
    c = closure[blinking][:, None, None]
    for upper, lower, spread in _lids(topology, vertices[0].tobytes()):
        meet = v[:, lower] + 0.3 * (v[:, upper] - v[:, lower])      # the upper lid travels 70 % of the way
        lid_moves = np.concatenate([c * (meet - v[:, upper]), c * (meet - v[:, lower])], axis=1)
        out[blinking] += np.einsum("vp,tpc->tvc", spread, lid_moves)
    return out


@lru_cache(maxsize=8)
def _lids(topology: Topology, rest_bytes: bytes) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per eye: upper lid vertices, the lower lid vertices facing them, and a (V, 2P) matrix spreading the
    lids' motion onto the face (1 on the lids, 0.4 on the skin next to them)."""
    rest = np.frombuffer(rest_bytes, np.float32).reshape(topology.n_vertices, 3)
    neighbours: dict[int, set[int]] = {}
    for a, b, c in topology.faces:
        for x, y in ((a, b), (b, c), (c, a)):
            neighbours.setdefault(int(x), set()).add(int(y))
            neighbours.setdefault(int(y), set()).add(int(x))
    contours = set(map(int, topology.left_eye)) | set(map(int, topology.right_eye))
    eyes = []
    for loop in (topology.right_eye, topology.left_eye):
        half = len(loop) // 2   # the two corners are loop[0] and loop[half]; the lids run between them
        one, other = np.asarray(loop[1:half]), np.asarray(loop[half + 1:][::-1])
        upper, lower = (one, other) if rest[one, 1].mean() > rest[other, 1].mean() else (other, one)
        lids = np.r_[upper, lower]
        spread = np.zeros((topology.n_vertices, len(lids)), np.float32)
        spread[lids, np.arange(len(lids))] = 1.0
        for j, lid in enumerate(lids):
            for n in neighbours[int(lid)] - contours:
                spread[n, j] += 0.4
        near = spread.sum(1) > 0
        lid_rows = np.isin(np.arange(topology.n_vertices), lids)
        spread[near & ~lid_rows] *= 0.4 / spread[near & ~lid_rows].sum(1, keepdims=True)  # a mean, not a sum
        eyes.append((upper, lower, spread))
    return eyes
