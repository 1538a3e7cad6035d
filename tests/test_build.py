"""build-dataset: person splits, quality checks, resumability, and one real clip end to end."""
import json

import numpy as np
import pytest

from conftest import shared_file, speechlike
from imitator.data.build import (BuildConfig, DatasetBuildError, QualityConfig, assign_splits, build_dataset,
                                 find_clips)
from imitator.data.dataset import Dataset
from imitator.data.faces import load_faces
from imitator.data.grid import grid_sentence
from imitator.tracking import TrackResult
from imitator.topology import MEDIAPIPE_468


def test_grid_sentence():
    assert grid_sentence("bbaf2n.mp4") == "bin blue at f two now"
    assert grid_sentence("swiz3n") == "set white in z three now"
    assert grid_sentence("id2_vcd_swwp2s.mp4") == "set white with p two soon"
    assert grid_sentence("lrwzza") == "lay red with z zero again"
    assert grid_sentence("interview.mp4") is None
    assert grid_sentence("xbaf2n") is None


def test_person_splits(tmp_path):
    people = [f"p{i}" for i in range(20)]
    a = assign_splits(people, val_fraction=0.25, test_fraction=0.25, seed=3)
    assert a == assign_splits(people, val_fraction=0.25, test_fraction=0.25, seed=3)
    assert sorted(a.values()).count("val") == 5 and sorted(a.values()).count("test") == 5
    assert a != assign_splits(people, val_fraction=0.25, test_fraction=0.25, seed=4)
    split_file = tmp_path / "s.json"
    split_file.write_text(json.dumps({"people": {"p0": "train", "p1": "test"}}))
    assert assign_splits(["p0", "p1"], split_file) == {"p0": "train", "p1": "test"}
    with pytest.raises(DatasetBuildError, match="p2"):
        assign_splits(["p0", "p1", "p2"], split_file)
    split_file.write_text(json.dumps({"p0": "holdout"}))
    with pytest.raises(DatasetBuildError, match="unknown splits"):
        assign_splits(["p0"], split_file)


def _videos(root, layout):
    for rel in layout:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    return root


def test_find_clips(tmp_path):
    _videos(tmp_path / "a", ["ann/1.mp4", "ann/2.mov", "bob.mp4", "notes.txt"])
    clips = find_clips([tmp_path / "a"])
    assert [(c.person, c.id) for c in clips] == [("ann", "ann__1"), ("ann", "ann__2"), ("bob", "bob__bob")]
    _videos(tmp_path / "b", ["ann/3.mp4"])
    with pytest.raises(DatasetBuildError, match="ann"):
        find_clips([tmp_path / "a", tmp_path / "b"])
    with pytest.raises(DatasetBuildError, match="no videos"):
        find_clips([_videos(tmp_path / "c", ["x.txt"])])


def _fake_track(kind: str, n: int = 90):
    """A TrackResult without MediaPipe: a template whose jaw opens and closes, with audio of `kind`."""
    template = next(iter(load_faces().values()))
    opening = 4 + 4 * np.sin(np.arange(n) / 4.0)
    v = np.repeat(template[None], n, 0).copy()
    v[:, template[:, 1] < template[14, 1] + 0.5, 1] -= opening[:, None]
    audio = speechlike(n / 30) if kind != "silent" else np.zeros(int(n / 30 * 16000), np.float32)
    if kind == "jitter":
        v += np.random.default_rng(0).normal(0, 2.0, v.shape).astype(np.float32)
    valid = np.ones(n, bool)
    if kind == "lost":
        valid[30:] = False
    return TrackResult(vertices=v.astype(np.float32), template=template, faces=MEDIAPIPE_468.faces, fps=30.0,
                       valid=valid, detected=valid, audio=audio, metadata={})


def test_quality_checks_splits_and_resume(tmp_path, monkeypatch):
    import imitator.tracking

    kinds = {"ok": "ok", "quiet": "silent", "shaky": "jitter", "lost": "lost", "foreign": "ok"}
    videos = _videos(tmp_path / "v", [f"{k}/clip.mp4" for k in kinds])
    (videos / "foreign" / "clip.txt").write_text("wo de pengyou zai zhongguo gongzuo xuesheng")
    (videos / "ok" / "clip.txt").write_text("hello")
    calls = []

    def fake(path, config=None, progress=None):
        calls.append(path)
        return _fake_track(kinds[path.split("/")[-2]])

    monkeypatch.setattr(imitator.tracking, "track_video", fake)
    split_file = tmp_path / "split.json"
    split_file.write_text(json.dumps({"ok": "train", "quiet": "train", "shaky": "train", "lost": "val",
                                      "foreign": "test"}))
    out = tmp_path / "out"
    report = build_dataset([videos], out, split_file=split_file)
    assert calls and len(calls) == 5
    assert report.ok == 2
    assert report.skipped == {"no speech": ["quiet__clip"], "jitter": ["shaky__clip"], "face lost": ["lost__clip"]}
    assert "not English" in report.unlabelled["foreign__clip"]
    data = Dataset(out)
    assert {(i.identity, i.split) for i in data.infos} == {("ok", "train"), ("foreign", "test")}
    foreign = data.load("foreign__clip")
    assert not foreign.lip_weights.any() and foreign.vertices.shape == (90, 468, 3)
    md = (out / "report.md").read_text()
    assert "shaky__clip" in md and "not English" in md

    # a rerun tracks nothing again; a new split file only rewrites the index
    calls.clear()
    split_file.write_text(json.dumps({"ok": "val", "quiet": "train", "shaky": "train", "lost": "val",
                                      "foreign": "test"}))
    build_dataset([videos], out, split_file=split_file)
    assert calls == []
    assert {i.identity: i.split for i in Dataset(out).infos}["ok"] == "val"
    # a crash mid-build (a clip's result missing) is redone from its cached tracking only
    (out / "work" / "ok__clip.json").unlink()
    build_dataset([videos], out, split_file=split_file, config=BuildConfig(quality=QualityConfig(max_jitter_mm=100)))
    assert calls == []
    assert len(Dataset(out)) == 2


def test_real_grid_clip_end_to_end(tmp_path):
    video = shared_file("real", "train", "grid_s1", "bbaf2n.mp4")
    person = tmp_path / "videos" / "grid_s1"
    person.mkdir(parents=True)
    (person / video.name).symlink_to(video)
    tsv = tmp_path / "t.tsv"
    tsv.write_text(f"{person / video.name}\t{grid_sentence(video.name)}\n")
    report = build_dataset([tmp_path / "videos"], tmp_path / "out", transcripts=tsv)
    assert report.ok == 1, (tmp_path / "out" / "report.md").read_text()
    data = Dataset(tmp_path / "out")
    info = data.infos[0]
    assert info.identity == "grid_s1" and info.transcript == "bin blue at f two now"
    assert any(p[0] == "B" for p in info.phones)
    seq = data.load(info)
    assert seq.lip_weights.max() == 1.0  # "bin" and "blue" close the lips
    assert abs(len(seq.audio) / 16000 - len(seq.vertices) / 30) < 0.05
    with np.load(tmp_path / "out" / "sequences" / f"{info.id}.npz") as z:
        raw, frames = z["raw_lip_distance"], z["closure_frames"]
    from imitator.topology import lip_distance

    corrected = lip_distance(seq.vertices)
    assert len(frames) and corrected[frames].max() < 0.05 < raw[frames].max() + 0.05
