"""A synthetic speaker's traits: how much and how (not what) the face moves when speaking (not a model Style)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SpeakerTraits:
    # Amplitudes (1 = the rig's average speaker)
    jaw: float = 1.0            # jaw opening
    lips: float = 1.0           # lip rounding and spreading
    protrusion: float = 1.0     # forward push of rounded lips
    smile: float = 0.0          # static smile: mouth corners up and out (negative: corners down)
    asymmetry: float = 0.0      # -0.5..0.5; > 0: the subject's left side moves more, and the jaw drifts left
    rest_gap_mm: float = 1.0    # lip opening at rest, between words
    upper_lip_share: float = 0.35  # share of a closure made by the upper lip (the rest by the lower lip)
    # Timing
    lead_s: float = 0.02        # lips close this much before the acoustic bilabial (anticipation)
    coarticulation: float = 1.0  # reach of each phone's influence on its neighbours (>1: smoother, lazier)
    closure_ramp_s: float = 0.06  # time the lips take to close, and to open again
    jitter: float = 0.1         # random variation of each phone's target (speech is never identical)


def random_traits(rng: np.random.Generator) -> SpeakerTraits:
    """A style drawn from ranges wide enough that speakers differ visibly, narrow enough to stay human."""
    return SpeakerTraits(
        jaw=float(rng.uniform(0.55, 1.5)),
        lips=float(rng.uniform(0.5, 1.5)),
        protrusion=float(rng.uniform(0.3, 1.7)),
        smile=float(rng.uniform(-0.4, 1.0)),
        asymmetry=float(rng.uniform(-0.45, 0.45)),
        rest_gap_mm=float(rng.uniform(0.6, 3.0)),
        upper_lip_share=float(rng.uniform(0.2, 0.5)),
        lead_s=float(rng.uniform(0.0, 0.04)),
        coarticulation=float(rng.uniform(0.6, 1.6)),
        closure_ramp_s=float(rng.uniform(0.045, 0.09)),
        jitter=float(rng.uniform(0.05, 0.15)),
    )
