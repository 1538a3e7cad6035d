"""Build a dataset (imitator/data/dataset.py format) from folders of talking-head videos.

    imitator build-dataset VIDEOS... --out DIR [--split-file people.json] [--transcripts t.tsv] [--workers N]

Each VIDEOS folder holds one sub-folder per person (`VIDEOS/<person>/*.mp4`) or videos directly, one
person per file. For every clip: track the face (`imitator.tracking`), take the transcript (a `.txt`
beside the video, else the `--transcripts` TSV, else Whisper), align its phones, label the lip closures,
make the targets contact-true (`imitator.contact`) and write one sequence; `identity` is the person.

Splits are by person, so validation and test people are never seen in training. Quality checks skip clips
whose face is lost, whose tracking jitters, without speech or too short; report.json / report.md say what
was skipped and why. Work is resumable: each clip's tracking (OUT/work/<id>.track.npz) and result
(OUT/work/<id>.json, OUT/sequences/<id>.npz) is written atomically when done, and the index is rebuilt
from the finished clips, so a crash or a rerun loses nothing already done. Clips run in parallel
processes (`--workers`).
"""
from __future__ import annotations

import json
import os
import random
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import ImitatorError
from .dataset import SequenceInfo, write_index

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".mpg")
SPLITS = ("train", "val", "test")
_RESULT_VERSION = 1  # bump when a finished clip's result must be recomputed (its tracking is kept)


class DatasetBuildError(ImitatorError):
    """The inputs of build-dataset are inconsistent (split file, person names, folders)."""


@dataclass(frozen=True)
class QualityConfig:
    min_seconds: float = 1.0        # the usable (face-tracked) stretch must be at least this long
    min_valid_fraction: float = 0.8  # ... and cover this share of the clip
    # median frame-to-frame acceleration of the lip vertices, mm/frame^2: broken tracking only. Speech itself
    # reaches about 1-2 on 160-px face crops whose lip-distance curves still look clean (docs/dataset.md)
    max_jitter_mm: float = 3.0
    min_speech_dbfs: float = -45.0  # audio quieter than this (RMS) has no speech to learn from
    min_known_words: float = 0.7    # share of transcript words the English dictionary must know; fewer means
                                    # the speech is probably not English: keep it, without lip labels
    min_whisper_logprob: float = -1.0  # Whisper tiny.en's mean log-probability below this: not English either


@dataclass(frozen=True)
class BuildConfig:
    quality: QualityConfig = QualityConfig()
    contact_true: bool = True       # close the lips at labelled closures (imitator.contact)
    track_fps: float = 30.0


@dataclass(frozen=True)
class Clip:
    id: str
    person: str
    path: str


# ----------------------------------------------------------------------------------------- finding clips
def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "clip"


def find_clips(folders: list[str | os.PathLike], max_per_person: int | None = None) -> list[Clip]:
    """Every video under the folders: a sub-folder is one person, a video at top level is its own person.
    max_per_person: keep at most this many clips of a person, evenly spread over its sorted file names
    (one speaker with a thousand clips would otherwise dominate the data and the build time)."""
    clips: list[Clip] = []
    owner: dict[str, Path] = {}
    for folder in map(Path, folders):
        if not folder.is_dir():
            raise DatasetBuildError(f"{folder} is not a folder of videos")
        for entry in sorted(folder.iterdir()):
            if entry.is_dir():
                person, videos = entry.name, sorted(p for p in entry.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
            elif entry.suffix.lower() in VIDEO_SUFFIXES:
                person, videos = entry.stem, [entry]
            else:
                continue
            if not videos:
                continue
            if max_per_person is not None and len(videos) > max_per_person:
                videos = [videos[i] for i in np.linspace(0, len(videos) - 1, max_per_person).round().astype(int)]
            if person in owner and owner[person] != entry:
                raise DatasetBuildError(f"person {person!r} appears twice: {owner[person]} and {entry}")
            owner[person] = entry
            for video in videos:
                clips.append(Clip(id=_safe(f"{person}__{video.stem}"), person=person, path=str(video.resolve())))
    if not clips:
        raise DatasetBuildError(f"no videos ({', '.join(VIDEO_SUFFIXES)}) found in {', '.join(map(str, folders))}")
    ids = [c.id for c in clips]
    if len(set(ids)) != len(ids):
        raise DatasetBuildError("two clips map to the same id: " + ", ".join(sorted({i for i in ids if ids.count(i) > 1})))
    return clips


def read_transcripts(path: str | os.PathLike | None) -> dict[str, str]:
    """A TSV of `video path<TAB>text`, keyed by the resolved path (relative paths: relative to the TSV)."""
    if path is None:
        return {}
    path = Path(path)
    out = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        if "\t" not in line:
            raise DatasetBuildError(f"{path}:{n}: expected 'video path<TAB>transcript'")
        video, text = line.split("\t", 1)
        video_path = Path(video) if Path(video).is_absolute() else path.parent / video
        out[str(video_path.resolve())] = text.strip()
    return out


def assign_splits(people: list[str], split_file: str | os.PathLike | None = None, val_fraction: float = 0.0,
                  test_fraction: float = 0.0, seed: int = 0) -> dict[str, str]:
    """person -> split. A split file (JSON {person: split}) must name every person; otherwise people are
    shuffled with `seed` and the first val_fraction go to val, the next test_fraction to test."""
    people = sorted(set(people))
    if split_file is not None:
        mapping = json.loads(Path(split_file).read_text())
        mapping = mapping.get("people", mapping)  # a file may wrap the mapping with a note
        bad = {p: s for p, s in mapping.items() if s not in SPLITS}
        if bad:
            raise DatasetBuildError(f"{split_file}: unknown splits {bad}; use one of {SPLITS}")
        missing = [p for p in people if p not in mapping]
        if missing:
            raise DatasetBuildError(f"{split_file} does not say which split these people are in: {missing}")
        return {p: mapping[p] for p in people}
    if not (0 <= val_fraction and 0 <= test_fraction and val_fraction + test_fraction <= 1):
        raise DatasetBuildError("--val-fraction and --test-fraction must be >= 0 and sum to at most 1")
    order = people[:]
    random.Random(seed).shuffle(order)
    n_val, n_test = round(val_fraction * len(order)), round(test_fraction * len(order))
    return {p: "val" if i < n_val else "test" if i < n_val + n_test else "train" for i, p in enumerate(order)}


# ------------------------------------------------------------------------------------------ one clip
def _atomic_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    os.replace(tmp, path)


def _atomic_npz(path: Path, **arrays) -> None:
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)


def track_cached(clip: Clip, work: Path, fps: float):
    """The clip's TrackResult, tracked once and cached in `work` (an ImitatorError is cached too)."""
    from ..tracking import TrackConfig, TrackResult, track_video

    cache, failed = work / f"{clip.id}.track.npz", work / f"{clip.id}.track-failed.json"
    if cache.is_file():
        return TrackResult.load(cache), 0.0
    if failed.is_file():
        raise ImitatorError(json.loads(failed.read_text())["error"])
    start = time.perf_counter()
    try:
        result = track_video(clip.path, config=TrackConfig(fps=fps))
    except ImitatorError as e:
        message = f"{e.__class__.__name__}: {e}"
        _atomic_json(failed, {"error": message})
        raise ImitatorError(message) from e
    tmp = cache.with_name(cache.stem + ".tmp.npz")
    result.save(tmp)
    os.replace(tmp, cache)
    return result, time.perf_counter() - start


def lip_jitter(vertices: np.ndarray, lips: np.ndarray) -> float:
    """Median over frames of the lip vertices' mean acceleration (mm/frame^2): tracking noise, since real
    lips change direction smoothly at 30 fps."""
    if len(vertices) < 3:
        return 0.0
    acc = vertices[2:, lips] - 2 * vertices[1:-1, lips] + vertices[:-2, lips]
    return float(np.median(np.linalg.norm(acc, axis=-1).mean(1)))


def _longest_run(mask: np.ndarray) -> tuple[int, int]:
    edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(np.int8), 0]))
    runs = list(zip(edges[::2], edges[1::2]))
    return max(runs, key=lambda r: r[1] - r[0]) if runs else (0, 0)


def _whisper_with_confidence(audio: np.ndarray) -> tuple[str, float]:
    """Whisper tiny.en's transcript and its mean segment log-probability (low: not English, or no words)."""
    from ..align import _whisper

    segments, _ = _whisper().transcribe(audio.astype(np.float32), language="en", beam_size=5)
    segments = list(segments)
    text = " ".join(s.text.strip() for s in segments).strip()
    logprob = float(np.mean([s.avg_logprob for s in segments])) if segments else -np.inf
    return text, logprob


_ALIGNER = None


def _aligner():
    global _ALIGNER
    from ..align import Aligner

    _ALIGNER = _ALIGNER or Aligner()
    return _ALIGNER


def process_clip(clip: Clip, out: str | os.PathLike, transcript: str | None,
                 config: BuildConfig = BuildConfig()) -> dict:
    """Track, check, transcribe, align, label and write one clip. Returns (and stores as
    OUT/work/<id>.json) its record: status "ok" with what was done, or "skipped" with the reason."""
    from ..audio import rms_dbfs
    from ..align import AlignmentError
    from ..contact import close_lips
    from ..lips import label_sequence
    from ..topology import MEDIAPIPE_468, lip_distance

    out = Path(out)
    work, sequences = out / "work", out / "sequences"
    record: dict = {"id": clip.id, "person": clip.person, "path": clip.path, "version": _RESULT_VERSION}
    q = config.quality

    def finish(status: str, reason: str = "") -> dict:
        record.update(status=status, reason=reason)
        _atomic_json(work / f"{clip.id}.json", record)
        return record

    try:
        tracked, seconds = track_cached(clip, work, config.track_fps)
    except ImitatorError as e:
        kind = "face lost" if re.search(r"FaceLost|NoFace", str(e)) else "too short" if "TooShort" in str(e) \
            else "unreadable"
        record["check"] = kind
        return finish("skipped", f"{kind}: {e}")
    record["track_seconds"] = round(seconds, 2)
    fps = tracked.fps
    record["seconds"] = round(len(tracked.vertices) / fps, 3)

    a, b = _longest_run(tracked.valid)
    record["valid_fraction"] = round(float(tracked.valid.mean()), 3)
    if (b - a) / fps < q.min_seconds:
        record["check"] = "too short"
        return finish("skipped", f"too short: {(b - a) / fps:.2f} s of tracked face, at least {q.min_seconds:g} s needed")
    if (b - a) / len(tracked.valid) < q.min_valid_fraction:
        record["check"] = "face lost"
        return finish("skipped", f"face lost: the longest tracked stretch is {100 * (b - a) / len(tracked.valid):.0f}% "
                                 f"of the clip, at least {100 * q.min_valid_fraction:.0f}% needed")
    vertices = tracked.vertices[a:b]
    spf = 16000 / fps
    audio = tracked.audio[int(round(a * spf)):int(round(b * spf))]
    record.update(start_frame=int(a), frames=int(b - a))

    jitter = lip_jitter(vertices, MEDIAPIPE_468.lip_vertices)
    record["jitter_mm"] = round(jitter, 3)
    if jitter > q.max_jitter_mm:
        record["check"] = "jitter"
        return finish("skipped", f"jitter: lip vertices shake by {jitter:.2f} mm/frame^2 (median), "
                                 f"more than {q.max_jitter_mm:g}")
    level = rms_dbfs(audio) if len(audio) else -np.inf
    record["speech_dbfs"] = round(float(level), 1)
    if not len(audio) or level < q.min_speech_dbfs:
        record["check"] = "no speech"
        return finish("skipped", "no speech: " + ("no audio track" if not len(audio) else
                                                   f"audio at {level:.0f} dBFS, below {q.min_speech_dbfs:g}"))

    # transcript: beside the video, else the TSV, else Whisper (cached: it is the slow part after tracking)
    beside = Path(clip.path).with_suffix(".txt")
    labels_reason = ""
    if beside.is_file():
        text, source = beside.read_text().strip(), "txt"
    elif transcript:
        text, source = transcript.strip(), "tsv"
    else:
        cache = work / f"{clip.id}.whisper.json"
        if cache.is_file():
            w = json.loads(cache.read_text())
        else:
            text_w, logprob = _whisper_with_confidence(audio)
            w = {"text": text_w, "logprob": logprob if np.isfinite(logprob) else None}
            _atomic_json(cache, w)
        text, source = w["text"], "whisper"
        record["whisper_logprob"] = w["logprob"]
        if not text:
            labels_reason = "Whisper recognised no words"
        elif w["logprob"] is None or w["logprob"] < q.min_whisper_logprob:
            labels_reason = (f"probably not English: Whisper tiny.en is unsure of its transcript "
                             f"(mean log-probability {w['logprob']:.2f} < {q.min_whisper_logprob:g})")
    record.update(transcript=text, transcript_source=source)

    phones: list = []
    frames = np.zeros(0, np.int64)
    weights = np.zeros(len(vertices), np.float32)
    if not labels_reason and text:
        known, unknown = _aligner().known_words(text)
        share = len(known) / max(len(known) + len(unknown), 1)
        if share < q.min_known_words:
            labels_reason = (f"probably not English: only {100 * share:.0f}% of the words are in the English "
                             f"pronunciation dictionary")
        else:
            try:
                phones = [list(p) for p in _aligner().align(audio, text)]
                frames, weights = label_sequence(vertices, [tuple(p) for p in phones], fps)
            except AlignmentError as e:
                labels_reason = f"alignment failed: {e}"
    record.update(labelled=not labels_reason, labels_reason=labels_reason, closures=int(len(frames)),
                  phones=[[p, round(s, 3), round(e, 3)] for p, s, e in phones])

    raw_distance = lip_distance(vertices)
    target = vertices
    if config.contact_true and len(frames):
        closed = close_lips(vertices, tracked.template, frames)
        target = closed.vertices
        record.update(closed=int(len(closed.corrected)), left_open=[int(f) for f in closed.left_open])
    record["raw_gap_at_closures_mm"] = [round(float(raw_distance[f]), 2) for f in frames]
    record["lip_p90_mm"] = round(float(np.percentile(raw_distance, 90)), 2)
    _atomic_npz(sequences / f"{clip.id}.npz", audio=audio.astype(np.float32), vertices=target.astype(np.float32),
                template=tracked.template.astype(np.float32), lip_weights=weights.astype(np.float32),
                raw_lip_distance=raw_distance.astype(np.float32), closure_frames=frames.astype(np.int64))
    return finish("ok")


def _process_safely(clip: Clip, out: str, transcript: str | None, config: BuildConfig) -> dict:
    """process_clip for a worker process: an unexpected error becomes a skipped record, not a dead build."""
    try:
        return process_clip(clip, out, transcript, config)
    except Exception as e:  # noqa: BLE001 - reported per clip; the build goes on
        import traceback

        record = {"id": clip.id, "person": clip.person, "path": clip.path, "version": _RESULT_VERSION,
                  "status": "error", "check": "error", "reason": f"{e.__class__.__name__}: {e}",
                  "traceback": traceback.format_exc(limit=5)}
        _atomic_json(Path(out) / "work" / f"{clip.id}.json", record)
        return record


# ---------------------------------------------------------------------------------------- the whole set
@dataclass
class BuildReport:
    clips: int = 0
    ok: int = 0
    skipped: dict[str, list[str]] = field(default_factory=dict)   # check -> clip ids
    unlabelled: dict[str, str] = field(default_factory=dict)      # clip id -> why it has no lip labels
    minutes: dict[str, float] = field(default_factory=dict)       # split -> minutes kept
    people: dict[str, int] = field(default_factory=dict)          # split -> people kept
    closures: int = 0
    wall_seconds: float = 0.0
    track_seconds: float = 0.0

    def summary(self) -> str:
        skipped = sum(len(v) for v in self.skipped.values())
        parts = ", ".join(f"{s} {self.minutes.get(s, 0):.1f} min / {self.people.get(s, 0)} people" for s in SPLITS)
        return (f"{self.ok}/{self.clips} clips kept ({parts}); {skipped} skipped "
                f"({', '.join(f'{k}: {len(v)}' for k, v in sorted(self.skipped.items())) or 'none'}); "
                f"{len(self.unlabelled)} without lip labels; {self.closures} closures labelled; "
                f"{self.wall_seconds / 60:.1f} min wall")


def build_dataset(folders: list[str | os.PathLike], out: str | os.PathLike, split_file=None,
                  val_fraction: float = 0.0, test_fraction: float = 0.0, seed: int = 0,
                  transcripts: str | os.PathLike | None = None, workers: int = 1, redo: bool = False,
                  max_per_person: int | None = None,
                  config: BuildConfig = BuildConfig(),
                  progress: Callable[[int, int], None] | None = None) -> BuildReport:
    """Build (or finish building) the dataset at `out` from the videos in `folders`. `redo` recomputes
    every clip's result from its cached tracking (e.g. after a labelling change)."""
    start = time.perf_counter()
    clips = find_clips(folders, max_per_person)
    splits = assign_splits([c.person for c in clips], split_file, val_fraction, test_fraction, seed)
    texts = read_transcripts(transcripts)
    out = Path(out)
    (out / "work").mkdir(parents=True, exist_ok=True)
    (out / "sequences").mkdir(parents=True, exist_ok=True)

    records: dict[str, dict] = {}
    todo = []
    for clip in clips:
        done = _finished(out, clip)
        if done is not None and not redo:
            records[clip.id] = done
        else:
            todo.append(clip)
    total, n = len(clips), len(records)
    if progress:
        progress(n, total)
    jobs = [(c, str(out), texts.get(c.path), config) for c in todo]
    if workers > 1 and len(jobs) > 1:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
            futures = [pool.submit(_process_safely, *job) for job in jobs]
            for future in as_completed(futures):
                record = future.result()
                records[record["id"]] = record
                n += 1
                if progress:
                    progress(n, total)
    else:
        for job in jobs:
            record = _process_safely(*job)
            records[record["id"]] = record
            n += 1
            if progress:
                progress(n, total)

    report = write_outputs(out, clips, records, splits)
    report.wall_seconds = time.perf_counter() - start
    _atomic_json(out / "report.json", asdict(report) | {"split_rule": _split_rule(split_file, val_fraction,
                                                                                 test_fraction, seed)})
    (out / "report.md").write_text(report_markdown(report, records, clips))
    return report


def _split_rule(split_file, val_fraction, test_fraction, seed) -> str:
    if split_file is not None:
        return f"by person, from {split_file}"
    return f"by person: shuffled with seed {seed}, {val_fraction:g} val, {test_fraction:g} test, rest train"


def _finished(out: Path, clip: Clip) -> dict | None:
    path = out / "work" / f"{clip.id}.json"
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    if record.get("version") != _RESULT_VERSION or record.get("status") == "error":
        return None
    if record["status"] == "ok" and not (out / "sequences" / f"{clip.id}.npz").is_file():
        return None
    return record


def write_outputs(out: Path, clips: list[Clip], records: dict[str, dict], splits: dict[str, str]) -> BuildReport:
    """index.json from the finished clips (the split comes from the person, not from the record, so a new
    split file needs no reprocessing) and the report's numbers."""
    report = BuildReport(clips=len(clips))
    infos = []
    people: dict[str, set] = {s: set() for s in SPLITS}
    for clip in clips:
        r = records.get(clip.id)
        if r is None:
            continue
        if r["status"] != "ok":
            report.skipped.setdefault(r.get("check", "error"), []).append(clip.id)
            continue
        split = splits[clip.person]
        report.ok += 1
        report.closures += r.get("closures", 0)
        report.track_seconds += r.get("track_seconds", 0.0)
        report.minutes[split] = report.minutes.get(split, 0.0) + r["frames"] / 30.0 / 60.0
        people[split].add(clip.person)
        if not r.get("labelled"):
            report.unlabelled[clip.id] = r.get("labels_reason", "")
        infos.append(SequenceInfo(id=clip.id, identity=clip.person, split=split, transcript=r.get("transcript", ""),
                                  phones=[tuple(p) for p in r.get("phones", [])], n_frames=r["frames"]))
    report.people = {s: len(p) for s, p in people.items()}
    report.minutes = {s: round(m, 2) for s, m in report.minutes.items()}
    # per-clip details the index has no field for (source file, checks, closure gaps)
    _atomic_json(out / "clips.json", {"clips": [records[c.id] for c in clips if c.id in records]})
    write_index(out, infos, "mediapipe468", 30.0)
    return report


def report_markdown(report: BuildReport, records: dict[str, dict], clips: list[Clip]) -> str:
    lines = ["# Dataset build report", "", report.summary(), "",
             "| split | people | minutes |", "|---|---|---|"]
    lines += [f"| {s} | {report.people.get(s, 0)} | {report.minutes.get(s, 0):.2f} |" for s in SPLITS]
    lines += ["", "## Skipped clips", ""]
    if not report.skipped:
        lines.append("none")
    for check, ids in sorted(report.skipped.items()):
        lines.append(f"### {check} ({len(ids)})")
        lines += [f"- `{i}`: {records[i].get('reason', '')}" for i in ids]
        lines.append("")
    lines += ["", "## Kept without lip labels (reconstruction only: lip weights are zero)", ""]
    lines += [f"- `{i}`: {why}" for i, why in sorted(report.unlabelled.items())] or ["none"]
    gaps = [g for r in records.values() if r.get("status") == "ok" for g in r.get("raw_gap_at_closures_mm", [])]
    if gaps:
        lines += ["", "## Tracked lip gap at labelled closures (before contact-true correction)", "",
                  f"{len(gaps)} closures: median {np.median(gaps):.2f} mm, 90th percentile "
                  f"{np.percentile(gaps, 90):.2f} mm, {np.mean(np.asarray(gaps) < 1.0):.0%} under 1 mm"]
    return "\n".join(lines) + "\n"
