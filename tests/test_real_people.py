"""The real-people benchmark's scoring and its ridge baseline (benchmarks/real_people.py)."""
import numpy as np
import pytest

from benchmarks import real_people
from imitator.data.dataset import Dataset, DatasetWriter, Sequence, SequenceInfo
from imitator.data.faces import load_faces
from imitator.topology import lip_distance


def _talking(template, opening):
    v = np.repeat(template[None], len(opening), 0).copy()
    v[:, template[:, 1] < template[14, 1] + 0.5, 1] -= opening[:, None]
    return v.astype(np.float32)


@pytest.fixture(scope="module")
def template():
    return next(iter(load_faces().values()))


def test_scores_of_truth_still_face_and_a_late_prediction(template):
    opening = 3 + 3 * np.sin(np.arange(120) / 5.0) ** 2
    truth = _talking(template, opening)
    raw = lip_distance(truth)
    closures = np.array([10, 60])
    s = real_people.clip_scores(truth, truth, raw, closures)
    assert s["corr"] == pytest.approx(1.0) and s["amplitude"] == pytest.approx(1.0) and s["lip_sync"] == 0
    assert s["lag"] == 0
    still = real_people.clip_scores(np.repeat(template[None], 120, 0), truth, raw, closures)
    assert still["amplitude"] < 0.7 and still["lip_sync"] > 1.0
    late = np.concatenate([truth[:3], truth[:-3]])
    assert real_people.clip_scores(late, truth, raw, closures)["lag"] == 3


def test_people_weigh_the_same():
    rows = {"a1": {"corr": 1.0, "amplitude": 1.0, "closure": 1.0, "lip_sync": 1.0, "lag": 0.0},
            "a2": {"corr": 1.0, "amplitude": 1.0, "closure": float("nan"), "lip_sync": 1.0, "lag": 0.0},
            "b1": {"corr": 0.0, "amplitude": 0.5, "closure": 0.0, "lip_sync": 3.0, "lag": 2.0}}
    s = real_people.by_person(rows, {"a1": "a", "a2": "a", "b1": "b"})
    assert s["corr"] == 0.5 and s["lip_sync"] == 2.0 and s["closure"] == 0.5 and s["people"] == 2
    assert s["amplitude_error"] == pytest.approx(0.25)


def test_ridge_learns_a_linear_mouth_and_picks_lambda_on_val(tmp_path, template, monkeypatch):
    rng = np.random.default_rng(0)

    def fake_features(audio, n_frames, cache=None, key=""):  # one feature per frame: the opening itself
        f = np.asarray(audio[: n_frames * 533 : 533], np.float32)[:, None]
        return np.concatenate([f, rng.normal(size=(len(f), 3)).astype(np.float32)], 1)

    monkeypatch.setattr(real_people, "whisper_features", fake_features)
    with DatasetWriter(tmp_path) as w:
        for i, split in enumerate(["train", "train", "val"]):
            opening = rng.uniform(0, 8, 90).astype(np.float32)
            audio = np.repeat(opening, 533)[: int(90 / 30 * 16000)].astype(np.float32)
            seq = _talking(template, opening)
            w.add(Sequence(SequenceInfo(f"s{i}", f"p{i}", split), audio, seq, template, np.zeros(90, np.float32)))
    data = Dataset(tmp_path)
    val = real_people.load_clips(data, "val")
    ridge = real_people.Ridge().fit(data, val)
    pred = ridge(val[0])
    assert real_people.clip_scores(pred, val[0].seq.vertices, val[0].raw_open, val[0].closures)["corr"] > 0.95
    assert ridge.chosen == max(ridge.val_corr, key=ridge.val_corr.get) and ridge.train_people == 2
