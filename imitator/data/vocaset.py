"""VOCASET -> our dataset format (imitator.data.dataset): 30 fps, millimetres, the standard split, FLAME topology.

Two layouts are read, both as VOCASET holders have them:

    released    data_verts.npy        (N, 5023, 3) metres, 60 fps, all sequences stacked (memory-mapped:
                                      it is 7-15 GB, and only the rows of each sequence are read)
                raw_audio_fixed.pkl   {subject: {sentence: {"audio": samples, "sample_rate": 22000}}}
                templates.pkl         {subject: (5023, 3) metres}
                subj_seq_to_idx.pkl   {subject: {sentence: {frame: row of data_verts}}}
    faceformer  vertices_npy/<subject>_<sentence>.npy   (T, 15069) metres, 60 fps
                wav/<subject>_<sentence>.wav
                templates.pkl

60 fps becomes 30 fps by taking every second frame, as FaceFormer and the official Imitator code do.
The split is theirs: 8 training subjects with sentences 1-40; 2 validation and 2 test subjects with sentences
21-40. The validation and test subjects' sentences 1-20 go to split "adapt": the reference sequences for
style adaptation (the official code adapts on sentences 1-4 and early-stops on 19-20; see imitator.paper).

Lip-contact labels need the words spoken. VOCASET ships no transcripts, so they are optional: a JSON file
{"sentence01": "text", ...} (or keys "<subject>_sentence01" where subjects read different texts) makes the
converter align and label every sequence it has a text for (imitator.lips); the others get zero weights.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..audio import to_mono_16k
from ..errors import VocasetError
from ..flame import FLAME_VERTICES, flame_topology, read_faces, read_regions
from ..topology import Topology
from .dataset import DatasetWriter, Sequence, SequenceInfo
from .pickles import read_data_pickle

SOURCE_FPS = 60.0
TARGET_FPS = 30.0
METRES_TO_MM = 1000.0

TRAIN_SUBJECTS = ("FaceTalk_170728_03272", "FaceTalk_170904_00128", "FaceTalk_170725_00137",
                  "FaceTalk_170915_00223", "FaceTalk_170811_03274", "FaceTalk_170913_03279",
                  "FaceTalk_170904_03276", "FaceTalk_170912_03278")
VAL_SUBJECTS = ("FaceTalk_170811_03275", "FaceTalk_170908_03277")
TEST_SUBJECTS = ("FaceTalk_170809_00138", "FaceTalk_170731_00024")
HELD_OUT_SENTENCES = range(21, 41)  # val/test subjects: scored on these; the rest are adaptation references


@dataclass(frozen=True)
class VocasetConfig:
    flame_mesh: str  # FLAME triangles: FLAME_sample.ply, head_template.obj, or .npz with `faces`
    flame_masks: str  # FLAME_masks.pkl (or .npz / .json) with a `lips` vertex set
    transcripts: str | None = None  # JSON {sentence or subject_sentence: text}: enables lip-contact labels
    subjects: tuple[str, ...] | None = None  # convert only these (prefixes of the subject names)
    sentences: tuple[int, ...] | None = None  # convert only these sentence numbers (quick trials)


@dataclass
class ConvertReport:
    layout: str = ""
    topology: str = ""
    sequences: dict[str, int] = field(default_factory=dict)  # split -> count
    frames: int = 0
    seconds: float = 0.0
    labelled: int = 0
    skipped: dict[str, str] = field(default_factory=dict)  # subject_sentence -> why

    def summary(self) -> str:
        splits = ", ".join(f"{k} {v}" for k, v in sorted(self.sequences.items()))
        return (f"{self.layout} layout -> {sum(self.sequences.values())} sequences ({splits}), {self.frames} frames "
                f"at 30 fps ({self.seconds / 60:.1f} min), topology {self.topology}; {self.labelled} with lip "
                f"labels; {len(self.skipped)} skipped")


@dataclass
class RawSequence:
    subject: str
    sentence: str
    vertices: np.ndarray  # (T, 5023, 3) at 30 fps (every second source frame), source units (metres)
    audio: np.ndarray  # (N,) 16 kHz float32


def split_of(subject: str, sentence_number: int) -> str | None:
    """"train" / "val" / "test" / "adapt", or None for a subject outside the standard split."""
    def among(names):
        return any(subject.startswith(n) for n in names)

    if among(TRAIN_SUBJECTS):
        return "train"
    held_out = sentence_number in HELD_OUT_SENTENCES
    if among(VAL_SUBJECTS):
        return "val" if held_out else "adapt"
    if among(TEST_SUBJECTS):
        return "test" if held_out else "adapt"
    return None


def sentence_number(sentence: str) -> int:
    m = re.search(r"(\d+)$", sentence)
    if not m:
        raise VocasetError(f"sentence name {sentence!r} does not end in its number (e.g. sentence01)")
    return int(m.group(1))


def detect_layout(src: Path) -> str:
    if (src / "data_verts.npy").is_file():
        return "released"
    if (src / "vertices_npy").is_dir():
        return "faceformer"
    raise VocasetError(f"{src} is not a VOCASET folder: expected data_verts.npy, raw_audio_fixed.pkl, "
                       "templates.pkl and subj_seq_to_idx.pkl (the release), or vertices_npy/, wav/ and "
                       "templates.pkl (the FaceFormer layout)")


def _need(path: Path) -> Path:
    if not path.exists():
        raise VocasetError(f"missing {path.name} in {path.parent}")
    return path


def read_released(src: Path, wanted: Callable[[str, str], bool]) -> Iterator[RawSequence | tuple[str, str]]:
    """Sequences of the released layout; yields (id, why) for sequences that cannot be read."""
    verts = np.load(_need(src / "data_verts.npy"), mmap_mode="r")
    if verts.ndim != 3 or verts.shape[1:] != (FLAME_VERTICES, 3):
        raise VocasetError(f"data_verts.npy is {verts.shape}, expected (N, {FLAME_VERTICES}, 3)")
    raw_audio = read_data_pickle(_need(src / "raw_audio_fixed.pkl"))
    index = read_data_pickle(_need(src / "subj_seq_to_idx.pkl"))
    for subject in sorted(index):
        for sentence in sorted(index[subject], key=sentence_number):
            if not wanted(subject, sentence):
                continue
            entry = raw_audio.get(subject, {}).get(sentence)
            if entry is None:
                yield f"{subject}_{sentence}", "no audio in raw_audio_fixed.pkl"
                continue
            frames = index[subject][sentence]
            rows = [frames[k] for k in sorted(frames)][::2]  # 60 -> 30 fps: read only the rows kept
            if not rows or max(rows) >= len(verts) or min(rows) < 0:
                yield f"{subject}_{sentence}", f"frame rows outside data_verts.npy ({len(verts)} rows)"
                continue
            audio = to_mono_16k(np.asarray(entry["audio"]), int(entry["sample_rate"]))
            yield RawSequence(subject, sentence, np.asarray(verts[rows]), audio)


def read_faceformer(src: Path, wanted: Callable[[str, str], bool]) -> Iterator[RawSequence | tuple[str, str]]:
    from ..audio import load_audio

    wav_dir = _need(src / "wav")
    for path in sorted(_need(src / "vertices_npy").glob("*.npy")):
        subject, _, sentence = path.stem.rpartition("_")
        if not subject or not wanted(subject, sentence):
            continue
        wav = wav_dir / f"{path.stem}.wav"
        if not wav.is_file():
            yield path.stem, "no wav"
            continue
        flat = np.load(path, mmap_mode="r", allow_pickle=False)
        if flat.ndim != 2 or flat.shape[1] != 3 * FLAME_VERTICES:
            yield path.stem, f"vertices are {flat.shape}, expected (T, {3 * FLAME_VERTICES})"
            continue
        kept = np.asarray(flat[::2])  # 60 -> 30 fps
        yield RawSequence(subject, sentence, kept.reshape(len(kept), FLAME_VERTICES, 3), load_audio(wav, check=False))


def parse_numbers(text: str) -> tuple[int, ...]:
    """ "1-4,21,22" -> (1, 2, 3, 4, 21, 22)."""
    numbers: list[int] = []
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            lo, _, hi = part.partition("-")
            numbers += range(int(lo), int(hi or lo) + 1)
    except ValueError:
        raise VocasetError(f"sentence numbers {text!r}: use a list such as 1-4,21-22") from None
    return tuple(numbers)


def load_transcripts(path: str | None) -> dict[str, str]:
    if not path:
        return {}
    texts = json.loads(Path(path).read_text())
    if not isinstance(texts, dict) or not all(isinstance(v, str) for v in texts.values()):
        raise VocasetError(f"{path}: transcripts must be a JSON object of strings, e.g. "
                           '{"sentence01": "the words spoken"}')
    return texts


def convert_vocaset(src: str | os.PathLike, out: str | os.PathLike, config: VocasetConfig,
                    progress: Callable[[int, str], None] | None = None) -> ConvertReport:
    """Convert a VOCASET folder (either layout) into a dataset folder at `out`."""
    src = Path(src)
    layout = detect_layout(src)
    templates = read_data_pickle(_need(src / "templates.pkl"))
    topology = _topology(config, templates)
    texts = load_transcripts(config.transcripts)
    report = ConvertReport(layout=layout, topology=topology.name)

    def wanted(subject: str, sentence: str) -> bool:
        if config.subjects and not any(subject.startswith(s) for s in config.subjects):
            return False
        number = sentence_number(sentence)
        if config.sentences and number not in config.sentences:
            return False
        if split_of(subject, number) is None:
            report.skipped[f"{subject}_{sentence}"] = "subject outside the standard split"
            return False
        return True

    reader = read_released if layout == "released" else read_faceformer
    aligner = None
    with DatasetWriter(out, topology=topology, fps=TARGET_FPS) as writer:
        for n, item in enumerate(reader(src, wanted), 1):
            if isinstance(item, tuple):
                report.skipped[item[0]] = item[1]
                continue
            seq_id = f"{item.subject}_{item.sentence}"
            if item.subject not in templates:
                report.skipped[seq_id] = "no template in templates.pkl"
                continue
            vertices = item.vertices.astype(np.float32) * METRES_TO_MM
            template = np.asarray(templates[item.subject], dtype=np.float32).reshape(FLAME_VERTICES, 3) * METRES_TO_MM
            split = split_of(item.subject, sentence_number(item.sentence))
            text = texts.get(seq_id, texts.get(item.sentence, ""))
            info = SequenceInfo(seq_id, item.subject, split, text)
            weights = np.zeros(len(vertices), np.float32)
            if text:
                aligner, weights, labelled = _label(aligner, item.audio, vertices, text, topology, info)
                report.labelled += labelled
            writer.add(Sequence(info, item.audio, vertices, template, weights))
            report.sequences[split] = report.sequences.get(split, 0) + 1
            report.frames += len(vertices)
            report.seconds += len(vertices) / TARGET_FPS
            if progress:
                progress(n, seq_id)
    if not report.sequences:
        raise VocasetError(f"no sequence of {src} could be converted: " +
                           "; ".join(f"{k}: {v}" for k, v in list(report.skipped.items())[:5]))
    return report


def _topology(config: VocasetConfig, templates: dict) -> Topology:
    if not templates:
        raise VocasetError("templates.pkl is empty")
    mean = np.mean([np.asarray(t, dtype=np.float64).reshape(-1, 3) for t in templates.values()], axis=0)
    if mean.shape != (FLAME_VERTICES, 3):
        raise VocasetError(f"templates.pkl holds {mean.shape} meshes, expected ({FLAME_VERTICES}, 3) (FLAME)")
    return flame_topology(read_faces(config.flame_mesh), read_regions(config.flame_masks), mean)


def _label(aligner, audio: np.ndarray, vertices: np.ndarray, text: str, topology: Topology, info: SequenceInfo):
    """Align the transcript and label the lip closures; (aligner, weights, 1) or zeros and 0 on failure."""
    from ..align import Aligner, AlignmentError
    from ..lips import label_sequence

    aligner = aligner or Aligner()
    try:
        phones = aligner.align(audio, text)
    except AlignmentError:
        return aligner, np.zeros(len(vertices), np.float32), 0
    info.phones = phones
    return aligner, label_sequence(vertices, phones, TARGET_FPS, topology)[1], 1
