"""How well mouths move on real people (issue 12): models against baselines on tracked real talking heads.

On the val or test people of a dataset built by `imitator build-dataset` (e.g. /work/cache/real), per clip on
the person's own tracked neutral template:

  mouth-open r   Pearson correlation of the predicted and the tracked inner-lip distance (topology.lip_distance;
                 the tracked curve is the raw one, before contact-true correction)
  amplitude      predicted 90th-percentile opening / tracked 90th-percentile opening (1 = right size)
  closure rate   share of labelled closures where the prediction's lip distance is < 1 mm within +-2 frames
  Lip-sync (mm)  per frame the largest lip-vertex error, averaged (against the dataset's vertices)

Rows: each given model (generic style); the still face (the template); a ridge regression on frozen Whisper
tiny.en features trained on the dataset's TRAIN people (regularisation chosen on val); the synthetic
corpus's rig (imitator/data/rig.py) driven by each clip's aligned phones. And a style row: a style made
through the user path (`create_style` on a tracked .npz) from the first 60 % of each clip, predicting the
last 40 %, against the generic model and the still face on the same frames.

Clip scores are averaged per person first, then over people (each person weighs the same).

    python -m benchmarks.real_people --data /work/cache/real --split test \
        --model imitator/weights/default --out-md docs/real_people_test.md --out-json real_people_test.json
"""
from __future__ import annotations

import argparse
import json
import math
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from imitator.data.dataset import Dataset, Sequence
from imitator.metrics import closure_rate, lip_sync, pearson
from imitator.topology import MEDIAPIPE_468, lip_distance

FPS = 30.0
METRICS = [("corr", "mouth-open r"), ("amplitude", "amplitude (p90 pred / true)"), ("closure", "closure rate"),
           ("lip_sync", "Lip-sync (mm)"), ("lag", "lag (frames)")]


@dataclass
class Clip:
    seq: Sequence
    raw_open: np.ndarray     # (T,) tracked inner-lip distance before the contact-true correction
    closures: np.ndarray     # labelled closure frames

    @property
    def id(self) -> str:
        return self.seq.info.id

    @property
    def person(self) -> str:
        return self.seq.info.identity


def load_clips(data: Dataset, split: str, limit_per_person: int | None = None) -> list[Clip]:
    clips, per_person = [], {}
    for info in data.select(split):
        if limit_per_person is not None and per_person.get(info.identity, 0) >= limit_per_person:
            continue
        per_person[info.identity] = per_person.get(info.identity, 0) + 1
        seq = data.load(info)
        with np.load(data.root / "sequences" / f"{info.id}.npz", allow_pickle=False) as z:
            raw = z["raw_lip_distance"] if "raw_lip_distance" in z.files else lip_distance(seq.vertices)
            closures = z["closure_frames"] if "closure_frames" in z.files else np.flatnonzero(seq.lip_weights >= 1)
        clips.append(Clip(seq, raw, closures))
    if not clips:
        raise SystemExit(f"{data.root} has no sequences in split {split!r}")
    return clips


def clip_scores(pred: np.ndarray, truth: np.ndarray, raw_open: np.ndarray, closures: np.ndarray) -> dict:
    """The four metrics of one prediction against one clip's frames (all arrays frame-aligned)."""
    n = min(len(pred), len(truth))
    pred, truth, raw_open = pred[:n], truth[:n], raw_open[:n]
    opening = lip_distance(pred)
    true_p90 = float(np.percentile(raw_open, 90))
    return {"corr": pearson(opening, raw_open),
            "amplitude": float(np.percentile(opening, 90)) / true_p90 if true_p90 > 0 else math.nan,
            "closure": closure_rate(opening, [int(c) for c in closures if c < n]),
            "lip_sync": lip_sync(pred, truth, MEDIAPIPE_468.lip_vertices),
            "lag": best_lag(opening, raw_open)}


def best_lag(pred_open: np.ndarray, true_open: np.ndarray, max_lag: int = 6) -> float:
    """Frames by which the predicted opening trails the tracked one (negative: leads), where their
    correlation peaks: a timing diagnostic, not a score."""
    n = len(pred_open)
    if n < 4 * max_lag:
        return math.nan
    corr = {lag: pearson(pred_open[max(0, lag):n + min(0, lag)], true_open[max(0, -lag):n - max(0, lag)])
            for lag in range(-max_lag, max_lag + 1)}
    corr = {k: v for k, v in corr.items() if not math.isnan(v)}
    return float(max(corr, key=corr.get)) if corr else math.nan


def by_person(rows: dict[str, dict], people: dict[str, str]) -> dict[str, float]:
    """Mean per person of each metric (NaN skipped), then mean over people; also 'people' and 'clips'."""
    persons: dict[str, list[dict]] = {}
    for clip_id, r in rows.items():
        persons.setdefault(people[clip_id], []).append(r)
    out: dict[str, float] = {}
    for key, _ in METRICS:
        means = []
        for rs in persons.values():
            vals = [r[key] for r in rs if not math.isnan(r[key])]
            if vals:
                means.append(float(np.mean(vals)))
        out[key] = float(np.mean(means)) if means else math.nan
    out["amplitude_error"] = float(np.mean([abs(np.nanmean([r["amplitude"] for r in rs]) - 1)
                                            for rs in persons.values()]))
    out["people"], out["clips"] = len(persons), len(rows)
    return out


# ------------------------------------------------------------------------------------------- predictors
def still_face(clip: Clip, audio: np.ndarray | None = None) -> np.ndarray:
    n = len(clip.seq.vertices) if audio is None else int(round(len(audio) / 16000 * FPS))
    return np.repeat(clip.seq.template[None], n, 0)


class ModelPredictor:
    def __init__(self, path: str):
        from imitator.checkpoint import load_model

        self.path, self.model = path, load_model(path)

    def __call__(self, clip: Clip, audio: np.ndarray | None = None) -> np.ndarray:
        from imitator.inference import predict_vertices

        return predict_vertices(self.model, clip.seq.audio if audio is None else audio, None, clip.seq.template)


def rig_prediction(clip: Clip) -> np.ndarray | None:
    """The synthetic corpus's rig with its average speaking style, driven by the clip's aligned phones."""
    from imitator.data.rig import VisemeRig
    from imitator.data.articulation import articulate
    from imitator.data.speaker import SpeakerTraits

    phones = clip.seq.info.phones
    if not phones:
        return None
    style = SpeakerTraits(jitter=0.0)
    art = articulate([tuple(p) for p in phones], len(clip.seq.vertices), FPS, style, np.random.default_rng(0))
    return VisemeRig(clip.seq.template).animate(art, style)


# ------------------------------------------------------------------------------------- ridge baseline
_ENCODER = None


def whisper_features(audio: np.ndarray, n_frames: int, cache: Path | None = None, key: str = "") -> np.ndarray:
    """Frozen Whisper tiny.en features at 30 fps with context: [f(t), mean f(t-4..t-1), mean f(t+1..t+4)]."""
    global _ENCODER
    path = cache / f"{key}.npy" if cache is not None and key else None
    if path is not None and path.is_file():
        f = np.load(path)
    else:
        from imitator.encoders import build_encoder, resample_features

        _ENCODER = _ENCODER or build_encoder("whisper-tiny.en")
        f = resample_features(_ENCODER.encode(audio), max(n_frames, 1)).numpy().astype(np.float32)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp.npy")
            np.save(tmp, f)
            os.replace(tmp, path)  # two runs (val and test) may share the cache
    f = f[:n_frames]
    pad = np.pad(f, ((4, 4), (0, 0)), mode="edge")
    c = np.cumsum(np.r_[np.zeros((1, f.shape[1]), np.float32), pad], axis=0)
    t = np.arange(len(f)) + 4
    before = (c[t] - c[t - 4]) / 4
    after = (c[t + 5] - c[t + 1]) / 4
    return np.concatenate([f, before, after], axis=1)


@dataclass
class Ridge:
    """Per-frame vertex offsets from the template as a linear function of Whisper features."""
    lambdas: tuple = (1.0, 10.0, 100.0, 1e3, 1e4, 1e5)
    cache: Path | None = None
    weights: np.ndarray | None = None
    x_mean: np.ndarray | None = None
    y_mean: np.ndarray | None = None
    chosen: float = math.nan
    val_corr: dict = field(default_factory=dict)
    train_people: int = 0

    def features(self, seq: Sequence, audio: np.ndarray | None = None, key: str | None = None) -> np.ndarray:
        audio = seq.audio if audio is None else audio
        n = int(round(len(audio) / 16000 * FPS))
        return whisper_features(audio, n, self.cache, seq.info.id if key is None else key)

    def fit(self, data: Dataset, val: list[Clip], max_clips_per_person: int | None = 40) -> "Ridge":
        """Sufficient statistics over the train people (each person weighs the same, however many clips),
        then one solve per regularisation; the one with the best mean val correlation is kept."""
        infos: dict[str, list] = {}
        for info in data.select("train"):
            infos.setdefault(info.identity, []).append(info)
        d = None
        for person, items in infos.items():
            if max_clips_per_person and len(items) > max_clips_per_person:
                items = [items[i] for i in np.linspace(0, len(items) - 1, max_clips_per_person).round().astype(int)]
            frames = sum(i.n_frames for i in items)
            for info in items:
                seq = data.load(info)
                x = self.features(seq).astype(np.float64)
                y = (seq.vertices - seq.template).reshape(len(seq.vertices), -1).astype(np.float64)
                n = min(len(x), len(y))
                x, y = x[:n], y[:n]
                w = 1.0 / frames
                if d is None:
                    d = x.shape[1]
                    sw, sx, sy = 0.0, np.zeros(d), np.zeros(y.shape[1])
                    sxx, sxy = np.zeros((d, d)), np.zeros((d, y.shape[1]))
                sw += w * n
                sx += w * x.sum(0)
                sy += w * y.sum(0)
                sxx += w * x.T @ x
                sxy += w * x.T @ y
        self.train_people = len(infos)
        self.x_mean, self.y_mean = sx / sw, sy / sw
        cxx = sxx / sw - np.outer(self.x_mean, self.x_mean)
        cxy = sxy / sw - np.outer(self.x_mean, self.y_mean)
        scale = np.trace(cxx) / d  # lambdas are relative to the mean feature variance
        best = -np.inf
        for lam in self.lambdas:
            w = np.linalg.solve(cxx + lam * 1e-3 * scale * np.eye(d), cxy)
            self.weights = w
            rows = {c.id: clip_scores(self(c), c.seq.vertices, c.raw_open, c.closures) for c in val}
            corr = by_person(rows, {c.id: c.person for c in val})["corr"]
            self.val_corr[lam] = corr
            if corr > best:
                best, self.chosen, chosen_w = corr, lam, w
        self.weights = chosen_w
        return self

    def __call__(self, clip: Clip, audio: np.ndarray | None = None, key: str | None = None) -> np.ndarray:
        x = self.features(clip.seq, audio, key).astype(np.float64)
        offsets = (x - self.x_mean) @ self.weights + self.y_mean
        return (clip.seq.template[None] + offsets.reshape(len(x), -1, 3)).astype(np.float32)


# --------------------------------------------------------------------------------------------- styles
def style_row(model: ModelPredictor, clips: list[Clip], min_seconds: float = 3.0, fit_share: float = 0.6,
              log=print) -> tuple[dict, dict, dict, list[str]]:
    """Make a style from the first `fit_share` of each clip as a user would (a tracked .npz into
    create_style, transcript by Whisper), predict the rest from its audio. Returns per-clip rows for the
    style, the generic model and the still face on the same held-out frames, and notes."""
    from imitator.pipeline import animate, create_style
    from imitator.tracking import TrackResult

    styled, generic, still, notes = {}, {}, {}, []
    with tempfile.TemporaryDirectory() as tmp:
        for clip in clips:
            seq = clip.seq
            n = len(seq.vertices)
            cut = int(fit_share * n)
            if n / FPS < min_seconds:
                continue
            spf = 16000 / FPS
            head = TrackResult(vertices=seq.vertices[:cut], template=seq.template, faces=MEDIAPIPE_468.faces, fps=FPS,
                               valid=np.ones(cut, bool), detected=np.ones(cut, bool),
                               audio=seq.audio[:int(cut * spf)], metadata={})
            npz = Path(tmp) / f"{clip.id}.npz"
            head.save(npz)
            start = time.perf_counter()
            try:
                style = create_style(npz, "person", model=model.model, save=False)
            except ValueError as e:
                notes.append(f"{clip.id}: no style ({e})")
                continue
            rest_audio = seq.audio[int(cut * spf):]
            truth, raw = seq.vertices[cut:], clip.raw_open[cut:]
            closures = clip.closures[clip.closures >= cut] - cut
            pred = animate(rest_audio, style=style, model=model.model).vertices
            styled[clip.id] = clip_scores(pred, truth, raw, closures)
            generic[clip.id] = clip_scores(model(clip, rest_audio), truth, raw, closures)
            still[clip.id] = clip_scores(still_face(clip, rest_audio), truth, raw, closures)
            log(f"  style {clip.id}: {time.perf_counter() - start:.1f} s, Lip-sync style "
                f"{styled[clip.id]['lip_sync']:.2f} / generic {generic[clip.id]['lip_sync']:.2f} / still "
                f"{still[clip.id]['lip_sync']:.2f} mm; fit: {style.meta.fit.get('lip_labels', '')[:60]}")
    return styled, generic, still, notes


# ---------------------------------------------------------------------------------------------- run
def run(data_root: str, split: str, models: list[str], ridge: bool = True, rig: bool = True, styles: bool = True,
        cache: str | None = None, log=print) -> dict:
    data = Dataset(data_root)
    clips = load_clips(data, split)
    people = {c.id: c.person for c in clips}
    rows: dict[str, dict] = {}
    started = time.perf_counter()

    def add(name: str, predict) -> None:
        t = time.perf_counter()
        per_clip = {}
        for c in clips:
            pred = predict(c)
            if pred is not None:
                per_clip[c.id] = clip_scores(pred, c.seq.vertices, c.raw_open, c.closures)
        rows[name] = {"summary": by_person(per_clip, people), "per_clip": per_clip}
        log(f"{name}: {rows[name]['summary']} ({time.perf_counter() - t:.0f} s)")

    predictors = [ModelPredictor(m) for m in models]
    for p in predictors:
        add(f"model {p.path} (generic style)", p)
    add("still face (template)", still_face)
    extra = {}
    if ridge:
        val = load_clips(data, "val")
        model = Ridge(cache=Path(cache) if cache else None).fit(data, val)
        extra["ridge"] = {"lambda": model.chosen, "val_corr": {str(k): v for k, v in model.val_corr.items()},
                          "train_people": model.train_people}
        add(f"ridge on Whisper tiny.en features ({model.train_people} train people, lambda {model.chosen:g})", model)
    if rig:
        add("rig driven by aligned phones", rig_prediction)
    if styles and predictors:
        styled, generic, still, notes = style_row(predictors[0], clips, log=log)
        extra["style"] = {name: {"summary": by_person(r, people), "per_clip": r}
                          for name, r in (("style (first 60 %)", styled), ("generic", generic),
                                          ("still face", still))}
        extra["style_notes"] = notes
    return {"data": str(data_root), "split": split, "people": len(set(people.values())), "clips": len(clips),
            "rows": rows, **extra, "seconds": round(time.perf_counter() - started, 1)}


def _cell(key: str, v: float) -> str:
    if isinstance(v, float) and math.isnan(v):
        return "-"
    return f"{100 * v:.0f}%" if key == "closure" else f"{v:.2f}"


def markdown(result: dict) -> str:
    head = "| row | people | " + " | ".join(label for _, label in METRICS) + " |"
    lines = [f"Split `{result['split']}` of `{result['data']}`: {result['people']} people, {result['clips']} clips; "
             "means over people.", "", head, "|" + "---|" * (2 + len(METRICS))]
    for name, row in result["rows"].items():
        s = row["summary"]
        lines.append(f"| {name} | {s['people']} | " + " | ".join(_cell(k, s[k]) for k, _ in METRICS) + " |")
    if "style" in result:
        lines += ["", "Style from the first 60 % of each clip (clips of at least 3 s), predicting the last 40 %:", "",
                  head, "|" + "---|" * (2 + len(METRICS))]
        for name, row in result["style"].items():
            s = row["summary"]
            lines.append(f"| {name} | {s['people']} | " + " | ".join(_cell(k, s[k]) for k, _ in METRICS) + " |")
        for note in result.get("style_notes", []):
            lines.append(f"- {note}")
    if "ridge" in result:
        r = result["ridge"]
        lines += ["", f"Ridge regularisation chosen on val: lambda {r['lambda']:g} "
                      f"(val correlation by lambda: {', '.join(f'{k}: {v:.3f}' for k, v in r['val_corr'].items())})."]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="dataset built by imitator build-dataset")
    p.add_argument("--split", default="test", choices=["val", "test"])
    p.add_argument("--model", action="append", default=[], help="checkpoint folder (repeatable)")
    p.add_argument("--no-ridge", action="store_true")
    p.add_argument("--no-rig", action="store_true")
    p.add_argument("--no-style", action="store_true")
    p.add_argument("--cache", default=None, help="folder for Whisper features (reused between runs)")
    p.add_argument("--out-md", default=None)
    p.add_argument("--out-json", default=None)
    a = p.parse_args()
    result = run(a.data, a.split, a.model, not a.no_ridge, not a.no_rig, not a.no_style, a.cache)
    text = markdown(result)
    print(text)
    if a.out_md:
        Path(a.out_md).write_text(text)
    if a.out_json:
        Path(a.out_json).write_text(json.dumps(result, indent=1, default=float))


if __name__ == "__main__":
    main()
