"""Phones -> per-frame articulation tracks (jaw, rounding, spreading, labiodental, lip closure).

Jaw, rounding and spreading are blended across neighbouring phones with Cohen-Massaro dominance functions:
each phone pulls the parameter toward its target with a strength that decays exponentially with the
distance from the phone, reaching further ahead (anticipation) than behind (carry-over). Phones that need
the lips free (most consonants) have weak lip dominance, so a rounded vowel rounds the consonants around it,
as in real speech.

Lip closure and the labiodental contact are not blended: blending would average a closure away. They are
envelopes that reach their target exactly (closure 1 = lips touching) on an interval around the phone,
with raised-cosine ramps. Each merged closure interval gives one *true closure frame* (its centre), the
ground truth for evaluating lip-contact labels.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ..align import BILABIALS, SILENCE, Phones
from .speaker import SpeakerTraits

# phone: (jaw, round, spread, jaw dominance, lip dominance). Jaw 1 = the widest speech opening.
_TARGETS: dict[str, tuple[float, float, float, float, float]] = {
    "AA": (1.00, 0.00, 0.05, 1.0, 1.0), "AE": (0.85, 0.00, 0.45, 1.0, 1.0), "AH": (0.60, 0.00, 0.10, 1.0, 1.0),
    "AO": (0.80, 0.55, 0.00, 1.0, 1.0), "EH": (0.60, 0.00, 0.45, 1.0, 1.0), "ER": (0.35, 0.45, 0.00, 1.0, 1.0),
    "IH": (0.40, 0.00, 0.55, 1.0, 1.0), "IY": (0.22, 0.00, 0.90, 1.0, 1.0), "UH": (0.40, 0.60, 0.00, 1.0, 1.0),
    "UW": (0.25, 1.00, 0.00, 1.0, 1.0),
    "B": (0.08, 0.0, 0.0, 0.9, 0.3), "M": (0.08, 0.0, 0.0, 0.9, 0.3), "P": (0.08, 0.0, 0.0, 0.9, 0.3),
    "F": (0.15, 0.0, 0.1, 0.8, 0.3), "V": (0.15, 0.0, 0.1, 0.8, 0.3),
    "W": (0.20, 1.0, 0.0, 0.6, 0.9), "R": (0.30, 0.5, 0.0, 0.5, 0.7),
    "SH": (0.15, 0.7, 0.0, 0.7, 0.8), "ZH": (0.15, 0.7, 0.0, 0.7, 0.8),
    "CH": (0.15, 0.7, 0.0, 0.7, 0.8), "JH": (0.15, 0.7, 0.0, 0.7, 0.8),
    "S": (0.12, 0.0, 0.35, 0.7, 0.3), "Z": (0.12, 0.0, 0.35, 0.7, 0.3),
    "TH": (0.25, 0.0, 0.1, 0.5, 0.15), "DH": (0.25, 0.0, 0.1, 0.5, 0.15),
    "T": (0.25, 0.0, 0.15, 0.5, 0.15), "D": (0.25, 0.0, 0.15, 0.5, 0.15), "N": (0.25, 0.0, 0.15, 0.5, 0.15),
    "L": (0.30, 0.0, 0.10, 0.5, 0.15), "Y": (0.20, 0.0, 0.60, 0.6, 0.6),
    "K": (0.35, 0.0, 0.0, 0.4, 0.1), "G": (0.35, 0.0, 0.0, 0.4, 0.1), "NG": (0.35, 0.0, 0.0, 0.4, 0.1),
    "HH": (0.50, 0.0, 0.0, 0.1, 0.05),
    SILENCE: (0.0, 0.0, 0.0, 1.5, 1.5),  # strong: in a pause the face returns to rest
}
_DIPHTHONGS = {"AW": ("AA", "UW"), "AY": ("AA", "IY"), "EY": ("EH", "IY"), "OW": ("AO", "UW"), "OY": ("AO", "IY")}
_STOPS = frozenset({"B", "P"})
_LABIODENTALS = frozenset({"F", "V"})


@dataclass(frozen=True)
class ArticulationConfig:
    reach_before_s: float = 0.07   # dominance decay ahead of a phone (anticipation), times style.coarticulation
    reach_after_s: float = 0.045   # ... and after it (carry-over)
    smooth_s: float = 0.012        # final smoothing of the blended tracks
    grid_hz: float = 200.0         # blending grid, finer than the frame rate
    burst_s: float = 0.015         # a stop's release burst, at the end of its aligned segment: lips open
    min_contact_s: float = 0.07    # shortest lip contact: at least two frames touch at 30 fps
    merge_gap_s: float = 0.03      # contacts closer than this are one closure (e.g. "empire": m-p)


@dataclass
class Articulation:
    jaw: np.ndarray          # (T,) 0..~1
    round: np.ndarray        # (T,) 0..1
    spread: np.ndarray       # (T,) 0..1
    labiodental: np.ndarray  # (T,) 0..1
    closure: np.ndarray      # (T,) 0..1; 1 = lips touch
    closure_frames: np.ndarray  # (K,) int: centre frame of each lip contact
    closure_intervals: list[tuple[float, float]]  # (start s, end s) of each contact


def articulate(phones: Phones, n_frames: int, fps: float, style: SpeakerTraits, rng: np.random.Generator,
               config: ArticulationConfig = ArticulationConfig()) -> Articulation:
    segments = _expand_diphthongs(phones)
    jaw, rnd, spread = _blend(segments, n_frames, fps, style, rng, config)
    contacts = _contact_intervals(phones, style, config)
    t = np.arange(n_frames) / fps
    closure = _envelope(t, contacts, style.closure_ramp_s)
    centres = np.array([int(round((a + b) / 2 * fps)) for a, b in contacts], dtype=np.int64)
    centres = centres[(centres >= 0) & (centres < n_frames)]
    closure[centres] = 1.0  # the contact interval always covers its centre frame; make that exact
    fv = [(s - style.lead_s, e - style.lead_s) for p, s, e in phones if p in _LABIODENTALS]
    labiodental = _envelope(t, fv, style.closure_ramp_s)
    return Articulation(jaw, rnd, spread, labiodental, closure, centres, contacts)


def _expand_diphthongs(phones: Phones) -> Phones:
    out: Phones = []
    for p, s, e in phones:
        if p in _DIPHTHONGS:
            a, b = _DIPHTHONGS[p]
            m = s + 0.45 * (e - s)
            out += [(a, s, m), (b, m, e)]
        else:
            out.append((p if p in _TARGETS else SILENCE, s, e))
    return out


def _blend(segments: Phones, n_frames: int, fps: float, style: SpeakerTraits, rng: np.random.Generator,
           config: ArticulationConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    duration = max(n_frames / fps, max((e for _, _, e in segments), default=0.0))
    grid = np.arange(0.0, duration + 1.0 / config.grid_hz, 1.0 / config.grid_hz)
    starts = np.array([s for _, s, _ in segments])[:, None]
    ends = np.array([e for _, _, e in segments])[:, None]
    targets = np.array([_TARGETS[p] for p, _, _ in segments])  # (S, 5)
    # Speech is never identical twice: each phone's targets vary a little.
    scale = np.clip(1.0 + style.jitter * rng.standard_normal((len(segments), 3)), 0.5, 1.5)
    values = targets[:, :3] * scale
    before = np.clip(starts - grid[None], 0.0, None)  # distance ahead of the phone
    after = np.clip(grid[None] - ends, 0.0, None)     # distance behind it
    decay = np.exp(-before / (config.reach_before_s * style.coarticulation)
                   - after / (config.reach_after_s * style.coarticulation))  # (S, G), 1 inside the phone
    tracks = []
    for k, alpha_col in ((0, 3), (1, 4), (2, 4)):
        d = targets[:, alpha_col : alpha_col + 1] * decay + 1e-12
        track = (d * values[:, k : k + 1]).sum(0) / d.sum(0)
        track = gaussian_filter1d(track, config.smooth_s * config.grid_hz)
        tracks.append(np.interp(np.arange(n_frames) / fps, grid, track))
    return tracks[0], tracks[1], tracks[2]


def _contact_intervals(phones: Phones, style: SpeakerTraits, config: ArticulationConfig) -> list[tuple[float, float]]:
    raw = []
    for p, s, e in phones:
        if p not in BILABIALS:
            continue
        a, b = s - style.lead_s, e - style.lead_s - (config.burst_s if p in _STOPS else 0.0)
        if b - a < config.min_contact_s:
            c = (a + b) / 2
            a, b = c - config.min_contact_s / 2, c + config.min_contact_s / 2
        raw.append((a, b))
    merged: list[tuple[float, float]] = []
    for a, b in sorted(raw):
        if merged and a - merged[-1][1] < config.merge_gap_s:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


def _envelope(t: np.ndarray, intervals: list[tuple[float, float]], ramp: float) -> np.ndarray:
    """1 on each interval, raised-cosine ramps of length `ramp` on both sides, 0 elsewhere (max of all)."""
    env = np.zeros_like(t)
    for a, b in intervals:
        rise = np.clip((t - (a - ramp)) / ramp, 0.0, 1.0)
        fall = np.clip(((b + ramp) - t) / ramp, 0.0, 1.0)
        env = np.maximum(env, 0.5 - 0.5 * np.cos(np.pi * np.minimum(rise, fall)))
    return env
