"""The synthetic speech-to-face corpus: a training set the project can regenerate from nothing but the
package (VOCASET, the paper's data, is licence-gated).

Per sequence: a sentence (sentences.txt; training also draws on training_sentences.txt) spoken by
espeak-ng in a random voice, aligned to its text with pocketsphinx (phone timings), animated by the
viseme rig on the identity's face in the identity's speaking style, labelled for lip contact by
`imitator.lips`, and the audio augmented. Everything is drawn from random generators seeded by
(seed, identity, sentence), so a corpus is reproducible, whatever the number of worker processes.

Beside the dataset files (see `imitator.data.dataset`) the corpus writes `synthetic.json`: the config,
each identity's face recipe, style and role (training or held out), the sentence splits, and per sequence
the voice and the true lip-closure frames (ground truth for evaluating lip-contact labels).
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from importlib import resources
from multiprocessing import get_context
from pathlib import Path
from typing import Callable

import numpy as np

from ..align import Aligner
from ..audio import SAMPLE_RATE
from ..errors import AlignmentError, DatasetError
from ..lips import label_frames, label_sequence, match_closures
from ..topology import get_topology, lip_distance
from .dataset import Dataset, DatasetWriter, Sequence, SequenceInfo
from .faces import load_faces, vary_face
from .rig import VisemeRig
from .speech import augment, random_voice, synthesize
from .speaker import SpeakerTraits, random_traits
from .articulation import articulate

TRUTH_FILE = "synthetic.json"


@dataclass(frozen=True)
class CorpusConfig:
    n_identities: int = 16
    n_heldout_identities: int = 4          # never in training: for evaluating style adaptation
    sentences_per_identity: int = 68       # training identities: every val and test sentence, rest train
    training_sentences: bool = True        # add training_sentences.txt to the training pool
    heldout_sentences_per_identity: int = 40  # held-out identities: every test sentence, rest from train
    n_val_sentences: int = 4
    n_test_sentences: int = 8
    fps: float = 30.0
    seed: int = 0
    workers: int = 2
    max_attempts: int = 3                  # voices tried for a sentence before the sequence is skipped
    lead_silence_s: tuple[float, float] = (0.15, 0.45)
    tail_silence_s: tuple[float, float] = (0.0, 0.25)


QUICK = CorpusConfig(n_identities=4, n_heldout_identities=1, sentences_per_identity=6,
                     heldout_sentences_per_identity=4, n_val_sentences=1, n_test_sentences=2)


@dataclass(frozen=True)
class Identity:
    name: str
    template: np.ndarray
    style: SpeakerTraits
    heldout: bool
    face_recipe: dict


@dataclass(frozen=True)
class _Job:
    identity: Identity
    sentence: int
    text: str
    split: str
    seed: tuple[int, int, int]


@dataclass
class CorpusReport:
    sequences: int = 0
    skipped: list[str] = field(default_factory=list)  # sequences no voice could be aligned for
    alignment_attempts: int = 0
    alignment_failures: int = 0
    seconds: float = 0.0
    audio_seconds: float = 0.0
    bytes: int = 0

    def summary(self) -> str:
        ok = 1 - self.alignment_failures / max(self.alignment_attempts, 1)
        return (f"{self.sequences} sequences ({self.audio_seconds / 60:.1f} min of speech) in {self.seconds:.0f} s, "
                f"{self.bytes / 1e6:.0f} MB; alignment succeeded on {ok:.1%} of "
                f"{self.alignment_attempts} clips; {len(self.skipped)} sequences skipped")


def load_sentences(name: str = "sentences.txt") -> list[str]:
    """sentences.txt: the pool val and test sentences come from; training_sentences.txt: training only."""
    text = (resources.files("imitator.data") / name).read_text()
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def plan(config: CorpusConfig) -> tuple[list[Identity], dict[str, list[int]], list[_Job]]:
    """Identities, sentence splits and the sequences to make: all decided up front from the seed."""
    sentences = load_sentences()
    rng = np.random.default_rng(config.seed)
    order = rng.permutation(len(sentences))
    nt, nv = config.n_test_sentences, config.n_val_sentences
    splits = {"test": sorted(order[:nt].tolist()), "val": sorted(order[nt : nt + nv].tolist()),
              "train": sorted(order[nt + nv :].tolist())}
    if config.training_sentences:
        # Appended after the core pool, so its indices (and the val/test draw above) do not move.
        extra = load_sentences("training_sentences.txt")
        splits["train"] += range(len(sentences), len(sentences) + len(extra))
        sentences = sentences + extra
    if config.sentences_per_identity - nt - nv > len(splits["train"]):
        raise DatasetError(f"only {len(splits['train'])} training sentences for "
                         f"{config.sentences_per_identity - nt - nv} per identity")
    heldout = set(rng.choice(config.n_identities, config.n_heldout_identities, replace=False).tolist())
    faces = list(load_faces().values())
    identities, jobs = [], []
    for i in range(config.n_identities):
        irng = np.random.default_rng([config.seed, i])
        # The first identities use each real face once; later ones blend two.
        template, recipe = vary_face(faces, i % len(faces), irng, blend=i >= len(faces))
        ident = Identity(f"syn{i:02d}", template, random_traits(irng), i in heldout, recipe)
        identities.append(ident)
        if ident.heldout:
            extra = irng.choice(splits["train"], config.heldout_sentences_per_identity - nt, replace=False)
            chosen = [(s, "test") for s in splits["test"]] + [(int(s), "test") for s in sorted(extra)]
        else:
            extra = irng.choice(splits["train"], config.sentences_per_identity - nt - nv, replace=False)
            chosen = ([(s, "test") for s in splits["test"]] + [(s, "val") for s in splits["val"]]
                      + [(int(s), "train") for s in sorted(extra)])
        jobs += [_Job(ident, s, sentences[s], split, (config.seed, i, s)) for s, split in chosen]
    return identities, splits, jobs


def make_corpus(out: str | os.PathLike, config: CorpusConfig = CorpusConfig(),
                progress: Callable[[int, int], None] | None = None) -> CorpusReport:
    """Generate the corpus into the folder `out` (created; must not already hold a dataset)."""
    out = Path(out)
    if (out / "index.json").exists():
        raise DatasetError(f"{out} already holds a dataset; choose another folder or delete it first")
    start = time.time()
    identities, splits, jobs = plan(config)
    report = CorpusReport()
    truth: dict[str, dict] = {}
    with DatasetWriter(out, topology="mediapipe468", fps=config.fps) as writer:
        pool = (get_context("fork").Pool(config.workers, initializer=_init_worker, initargs=(config,))
                if config.workers > 1 else _InProcess(config))
        with pool:
            for k, (job, result) in enumerate(zip(jobs, pool.imap(_make_sequence, jobs, chunksize=2))):
                seq, meta, failures = result
                report.alignment_attempts += failures + (seq is not None)
                report.alignment_failures += failures
                if seq is None:
                    report.skipped.append(f"{job.identity.name}_s{job.sentence:03d}")
                else:
                    writer.add(seq)
                    truth[seq.info.id] = meta
                    report.sequences += 1
                    report.audio_seconds += len(seq.audio) / SAMPLE_RATE
                if progress:
                    progress(k + 1, len(jobs))
    (out / TRUTH_FILE).write_text(json.dumps({
        "config": asdict(config),
        "identities": {i.name: {"heldout": i.heldout, "style": asdict(i.style), "face": i.face_recipe,
                                "face_sources": list(load_faces())} for i in identities},
        "sentences": {k: [int(s) for s in v] for k, v in splits.items()},
        "sequences": truth,
        "alignment": {"attempts": report.alignment_attempts, "failures": report.alignment_failures},
    }, indent=1))
    report.seconds = time.time() - start
    report.bytes = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    return report


def load_truth(root: str | os.PathLike) -> dict:
    """The `synthetic.json` of a generated corpus (true closure frames under ["sequences"][id])."""
    return json.loads((Path(root) / TRUTH_FILE).read_text())


@dataclass
class LabelScore:
    true_closures: int
    labels: int
    found: int      # true closures with a label within the tolerance
    correct: int    # labels with a true closure within the tolerance

    @property
    def recall(self) -> float:
        return self.found / max(self.true_closures, 1)

    @property
    def false_rate(self) -> float:
        return 1 - self.correct / max(self.labels, 1)

    def summary(self) -> str:
        return (f"{self.recall:.1%} of {self.true_closures} true closures labelled within +-1 frame; "
                f"{self.false_rate:.1%} of {self.labels} labels false")


def score_labels(root: str | os.PathLike, tolerance: int = 1) -> LabelScore:
    """Compare a corpus's lip_weights (as written by `imitator.lips`) with its true closure frames."""
    truth = load_truth(root)["sequences"]
    data = Dataset(root)
    score = LabelScore(0, 0, 0, 0)
    for info in data.infos:
        labels = label_frames(data.load(info).lip_weights)
        true = np.asarray(truth[info.id]["closure_frames"], dtype=np.int64)
        found, correct = match_closures(labels, true, tolerance)
        score.true_closures += len(true)
        score.labels += len(labels)
        score.found += found
        score.correct += correct
    return score


def measure_styles(root: str | os.PathLike) -> dict[str, dict[str, float]]:
    """Per identity, what its motion measures (mm): mean and 95th-percentile lip opening, forward lip
    push (95th percentile), mouth-corner height relative to the template (smile), and the ratio of the
    subject's left to right mouth-corner motion (asymmetry). Shows that styles differ, in numbers."""
    data = Dataset(root)
    topo = get_topology(data.topology)
    out = {}
    for name in data.identities():
        opening, push, corner_y, left, right = [], [], [], [], []
        for info in data.select(identities=[name]):
            seq = data.load(info)
            rel = seq.vertices - seq.template
            corners = topo.lip_outer[[np.argmax(seq.template[topo.lip_outer, 0]),
                                      np.argmin(seq.template[topo.lip_outer, 0])]]
            opening.append(lip_distance(seq.vertices, topo))
            push.append(rel[:, topo.lip_outer, 2].mean(1))
            corner_y.append(rel[:, corners, 1].mean(1))
            left.append(np.linalg.norm(rel[:, corners[0]], axis=-1))
            right.append(np.linalg.norm(rel[:, corners[1]], axis=-1))
        opening, push = np.concatenate(opening), np.concatenate(push)
        out[name] = {"opening_mean": float(opening.mean()), "opening_p95": float(np.percentile(opening, 95)),
                     "protrusion_p95": float(np.percentile(push, 95)),
                     "smile": float(np.concatenate(corner_y).mean()),
                     "asymmetry": float(np.concatenate(left).mean() / np.concatenate(right).mean())}
    return out


# --- worker side -------------------------------------------------------------------------------------
_aligner: Aligner | None = None
_rigs: dict[str, VisemeRig] = {}
_config: CorpusConfig | None = None


def _init_worker(config: CorpusConfig) -> None:
    global _aligner, _config
    _aligner, _config = Aligner(), config  # ~0.5 s: once per process, not per sequence
    _rigs.clear()  # identities are per corpus: a second corpus made in this process has other faces


class _InProcess:
    """Pool's interface, run in this process (workers=1: simpler to debug and to profile)."""

    def __init__(self, config: CorpusConfig):
        _init_worker(config)

    def imap(self, fn, items, chunksize=1):
        return map(fn, items)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _make_sequence(job: _Job) -> tuple[Sequence | None, dict, int]:
    """One sequence, or None when no voice could be aligned; also its truth record and alignment failures."""
    config = _config
    rng = np.random.default_rng(job.seed)
    failures = 0
    for _ in range(config.max_attempts):
        voice = random_voice(rng)
        speech = synthesize(job.text, voice)
        lead = np.zeros(int(rng.uniform(*config.lead_silence_s) * SAMPLE_RATE), np.float32)
        tail = np.zeros(int(rng.uniform(*config.tail_silence_s) * SAMPLE_RATE), np.float32)
        clean = np.concatenate([lead, speech, tail])
        try:
            phones = _aligner.align(clean, job.text)
            break
        except AlignmentError:
            failures += 1
    else:
        return None, {}, failures
    audio = augment(clean, rng)
    n_frames = int(round(len(audio) / SAMPLE_RATE * config.fps))
    ident = job.identity
    if ident.name not in _rigs:
        _rigs[ident.name] = VisemeRig(ident.template)
    rig = _rigs[ident.name]
    art = articulate(phones, n_frames, config.fps, ident.style, rng)
    vertices = rig.animate(art, ident.style)
    _, weights = label_sequence(vertices, phones, config.fps)
    info = SequenceInfo(id=f"{ident.name}_s{job.sentence:03d}", identity=ident.name, split=job.split,
                        transcript=job.text, phones=[(p, round(s, 3), round(e, 3)) for p, s, e in phones])
    # The rig's neutral (the tracked face with the lips just touching) is the template: rest is then a
    # style's small offset from it, as in a scanned corpus.
    seq = Sequence(info, audio, vertices, rig.neutral.astype(np.float32), weights)
    meta = {"sentence": job.sentence, "voice": asdict(voice),
            "closure_frames": art.closure_frames.tolist()}
    return seq, meta, failures
