"""Lip-contact labels: where the lips close on m, b and p, as weights for the lip-contact loss.

As in the paper (its labelling script was never released; this is ours): align the transcript to the audio
(pocketsphinx; transcribe with Whisper first when there is no transcript), and for each bilabial take the
local minimum of the lip-distance curve in a window that starts a little before the consonant (the lips
close before the sound is heard) and ends with it. A Gaussian (sigma 1 frame, cut at +-2 frames: weights
1, 0.607, 0.135) on each closure frame gives the per-frame weights.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np

from .align import (BILABIALS, NON_ENGLISH_LOGPROB, Aligner, AlignmentError, Phones, align_shared, transcribe,
                    transcribe_scored)
from .data.dataset import Dataset, write_index
from .topology import MEDIAPIPE_468, Topology, get_topology, lip_distance


@dataclass(frozen=True)
class LabelConfig:
    window_before_s: float = 0.12  # the search starts this long before the aligned consonant ...
    window_after_s: float = 0.0    # ... and ends this long after its aligned end
    descend_frames: int = 2        # a minimum on the window's edge may continue just outside it
    plateau_mm: float = 0.05       # frames this close to the minimum form one contact: label its centre
    plateau_frames: int = 3        # ... looking at most this far outside the window
    sigma_frames: float = 1.0
    radius_frames: int = 2


def closure_frames(distance: np.ndarray, phones: Phones, fps: float,
                   config: LabelConfig = LabelConfig()) -> np.ndarray:
    """Frames of lip closure (sorted, one per contact) from a lip-distance curve (T,) and the phones."""
    n = len(distance)
    found: list[int] = []
    previous_end = None  # end of the last bilabial not directly before this one
    for i, (p, start, end) in enumerate(phones):
        if p not in BILABIALS:
            continue
        lo = max(0, int(np.floor((start - config.window_before_s) * fps)))
        if previous_end is not None:  # don't reach back into the previous closure (e.g. "map", "bomb")
            lo = max(lo, int(np.ceil(previous_end * fps)))
        adjacent_next = i + 1 < len(phones) and phones[i + 1][0] in BILABIALS
        previous_end = None if adjacent_next else end
        hi = min(n - 1, int(np.ceil((end + config.window_after_s) * fps)))
        if lo > hi:
            continue
        k = lo + int(np.argmin(distance[lo : hi + 1]))
        for _ in range(config.descend_frames):
            if k > 0 and distance[k - 1] < distance[k]:
                k -= 1
            elif k < n - 1 and distance[k + 1] < distance[k]:
                k += 1
        reach = (max(0, lo - config.plateau_frames), min(n - 1, hi + config.plateau_frames))
        found.append(_plateau_centre(distance, k, config.plateau_mm, reach))
    frames: list[int] = []
    for f in sorted(found):  # two bilabials in one contact (e.g. "empire") find the same minimum
        if not frames or f - frames[-1] > 1:
            frames.append(f)
    return np.array(frames, dtype=np.int64)


def _plateau_centre(distance: np.ndarray, k: int, tolerance: float, reach: tuple[int, int]) -> int:
    level = distance[k] + tolerance
    left, right = k, k
    while left > reach[0] and distance[left - 1] <= level:
        left -= 1
    while right < reach[1] and distance[right + 1] <= level:
        right += 1
    return (left + right) // 2


def contact_weights(frames: np.ndarray, n_frames: int, config: LabelConfig = LabelConfig()) -> np.ndarray:
    """(n_frames,) float32: a truncated Gaussian on each closure frame (overlaps take the maximum)."""
    w = np.zeros(n_frames, dtype=np.float32)
    offsets = np.arange(-config.radius_frames, config.radius_frames + 1)
    bump = np.exp(-0.5 * (offsets / config.sigma_frames) ** 2).astype(np.float32)
    for f in frames:
        idx = f + offsets
        ok = (idx >= 0) & (idx < n_frames)
        w[idx[ok]] = np.maximum(w[idx[ok]], bump[ok])
    return w


def label_sequence(vertices: np.ndarray, phones: Phones, fps: float, topology: Topology = MEDIAPIPE_468,
                   config: LabelConfig = LabelConfig()) -> tuple[np.ndarray, np.ndarray]:
    """(closure frames, per-frame weights) for one sequence of meshes (T, V, 3) and its phone alignment."""
    frames = closure_frames(lip_distance(vertices, topology), phones, fps, config)
    return frames, contact_weights(frames, len(vertices), config)


@dataclass(frozen=True)
class Heard:
    """What `listen` heard in a clip: the words, their phones' timing (None if they could not be aligned:
    `problem` says why) and Whisper's confidence (None when the words were given or nothing was heard)."""
    text: str
    phones: Phones | None
    problem: str = ""
    score: float | None = None

    def shifted(self, seconds: float) -> "Heard":
        """The same, with every phone `seconds` later (onto another clock, e.g. the video's frames)."""
        phones = None if self.phones is None else [(p, a + seconds, b + seconds) for p, a, b in self.phones]
        return replace(self, phones=phones)


def listen(audio: np.ndarray, transcript: str = "") -> Heard:
    """The words of 16 kHz `audio` (Whisper, unless `transcript` is given) and their phones' timing
    (pocketsphinx). Needs no meshes, so a caller can run it while the face is still being tracked."""
    text, score = (transcript.strip(), None) if transcript.strip() else transcribe_scored(audio)
    if score is not None and score < NON_ENGLISH_LOGPROB:  # English lip labels from misheard words mislead
        return Heard(text, None, "the speech does not sound like English, so no lip closures were labelled", score)
    if not text:
        return Heard(text, None, "no words recognised", score)
    try:
        return Heard(text, align_shared(audio, text), "", score)
    except AlignmentError as e:
        return Heard(text, None, f"alignment failed ({e})", score)


def label_heard(vertices: np.ndarray, heard: Heard, fps: float, topology: Topology = MEDIAPIPE_468,
                config: LabelConfig = LabelConfig()) -> tuple[np.ndarray | None, str]:
    """Lip-contact weights from `listen`'s result for the same clip: (weights, what was done) or (None, why)."""
    if heard.phones is None:
        return None, heard.problem
    frames, weights = label_sequence(vertices, heard.phones, fps, topology, config)
    return weights, f"{len(frames)} lip closures labelled in: {heard.text}"


def label_reference(vertices: np.ndarray, audio: np.ndarray, fps: float, topology: Topology = MEDIAPIPE_468,
                    transcript: str = "", config: LabelConfig = LabelConfig()) -> tuple[np.ndarray | None, str]:
    """Lip-contact weights for one tracked clip with no labels yet (a user's reference video): transcribe it
    with Whisper unless `transcript` is given, align, label. Returns (weights, what was done), or (None, why)
    where nothing could be aligned (or the speech is not English), so a style can still be made without
    the lip-contact term."""
    return label_heard(vertices, listen(audio, transcript), fps, topology, config)


@dataclass
class LabelReport:
    sequences: int = 0
    labelled: int = 0
    closures: int = 0
    frames: int = 0
    weighted_frames: int = 0
    transcribed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # sequence id -> why (its weights are zeros)

    def summary(self) -> str:
        share = self.weighted_frames / max(self.frames, 1)
        return (f"{self.labelled}/{self.sequences} sequences labelled, {self.closures} closures, "
                f"{share:.1%} of frames weighted; {len(self.transcribed)} transcribed with Whisper, "
                f"{len(self.failed)} failed")


def label_dataset(root: str | os.PathLike, realign: bool = False, config: LabelConfig = LabelConfig(),
                  progress: Callable[[int, int], None] | None = None) -> LabelReport:
    """Label every sequence of the dataset at `root` and write the weights back (and the transcripts and
    alignments it had to make). Sequences with stored phones reuse them unless `realign`."""
    data = Dataset(root)
    topology = get_topology(data.topology)
    aligner: Aligner | None = None
    report = LabelReport(sequences=len(data))
    infos = []
    for i, info in enumerate(data.infos):
        seq = data.load(info)
        phones = info.phones
        try:
            if realign or not phones:
                text = info.transcript
                if not text.strip():
                    text = transcribe(seq.audio)
                    report.transcribed.append(info.id)
                aligner = aligner or Aligner()
                phones = aligner.align(seq.audio, text)
                info = replace(info, transcript=text, phones=phones)
            frames, weights = label_sequence(seq.vertices, phones, data.fps, topology, config)
            report.labelled += 1
            report.closures += len(frames)
        except AlignmentError as e:
            report.failed[info.id] = str(e)
            weights = np.zeros(len(seq.vertices), dtype=np.float32)
        report.frames += len(weights)
        report.weighted_frames += int((weights > 0).sum())
        _write_weights(Path(root) / "sequences" / f"{info.id}.npz", weights)
        infos.append(info)
        if progress:
            progress(i + 1, len(data))
    write_index(root, infos, data.topology, data.fps)
    return report


def _write_weights(path: Path, weights: np.ndarray) -> None:
    """Replace lip_weights in a sequence file, keeping every other array (converters may add their own)."""
    with np.load(path, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["lip_weights"] = weights.astype(np.float32)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)



def label_frames(weights: np.ndarray) -> np.ndarray:
    """The closure frames a weight curve was made from (its peaks of exactly 1)."""
    return np.flatnonzero(np.asarray(weights) >= 1.0)


def match_closures(labels: np.ndarray, truth: np.ndarray, tolerance: int = 1) -> tuple[int, int]:
    """(true closures with a label within `tolerance` frames, labels with a true closure that near)."""
    labels, truth = np.asarray(labels), np.asarray(truth)
    if len(labels) == 0 or len(truth) == 0:
        return 0, 0
    near = np.abs(truth[:, None] - labels[None, :]) <= tolerance
    return int(near.any(1).sum()), int(near.any(0).sum())


def plot_labels(path: str | os.PathLike, distance: np.ndarray, frames: np.ndarray, phones: Phones, fps: float,
                title: str = "") -> None:
    """A PNG of the lip-distance curve with the aligned bilabials (shaded) and the labelled closures."""
    import textwrap

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    t = np.arange(len(distance)) / fps
    fig, ax = plt.subplots(figsize=(12, 3.8))
    ax.plot(t, distance, color="k", lw=1.2, label="lip distance")
    for p, s, e in phones:
        if p in BILABIALS:
            ax.axvspan(s, e, color="tab:orange", alpha=0.25, lw=0)
            ax.text((s + e) / 2, distance.max() * 1.02, p, ha="center", va="bottom", fontsize=8)
    ax.plot(t[frames], distance[frames], "o", color="tab:red", label="labelled closure")
    weights = contact_weights(frames, len(distance))
    ax.fill_between(t, 0, weights * distance.max() * 0.25, color="tab:red", alpha=0.15, label="weight (scaled)")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("inner lip distance (mm)")
    ax.set_ylim(0, distance.max() * 1.12)
    ax.set_title("\n".join(textwrap.wrap(title, 150)), fontsize=9)
    handles = ax.get_legend_handles_labels()[0] + [Patch(color="tab:orange", alpha=0.25, label="aligned m/b/p")]
    ax.legend(handles=handles, loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
