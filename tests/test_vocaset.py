"""VOCASET import, the FLAME topology end to end (train, evaluate, adapt, render), and the paper's protocol,
on small fixtures in VOCASET's exact released layouts (tests/vocaset_fixture.py)."""
import json
import pickle

import numpy as np
import pytest

from vocaset_fixture import LOWER, SUBJECTS, UPPER, write_faceformer, write_flame_files, write_released
from imitator.data.dataset import Dataset
from imitator.data.pickles import read_data_pickle
from imitator.data.vocaset import VocasetConfig, convert_vocaset, split_of
from imitator.errors import DataPickleError, TopologyError, VocasetError
from imitator.flame import flame_topology, read_faces, read_regions
from imitator.topology import TOPOLOGY_FILE, get_topology, lip_distance

# 2 training subjects, 1 validation subject, both test subjects
FEW = (SUBJECTS[0], SUBJECTS[1], SUBJECTS[8], SUBJECTS[10], SUBJECTS[11])
SENTENCES = (1, 2, 21)
FAST_MODEL = {"d_model": 32, "ff_dim": 64}


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("vocaset")
    mesh = write_released(root / "released", FEW, SENTENCES, seconds=0.6)
    write_faceformer(root / "faceformer", FEW, SENTENCES, seconds=0.6)
    ply, obj, masks = write_flame_files(root / "flame", mesh)
    return {"root": root, "mesh": mesh, "ply": ply, "obj": obj, "masks": masks}


@pytest.fixture(scope="module")
def converted(sources):
    out = sources["root"] / "converted"
    config = VocasetConfig(str(sources["ply"]), str(sources["masks"]))
    report = convert_vocaset(sources["root"] / "released", out, config)
    return out, report


def test_standard_split():
    assert split_of("FaceTalk_170728_03272_TA", 1) == "train" and split_of("FaceTalk_170728_03272_TA", 40) == "train"
    assert split_of("FaceTalk_170811_03275_TA", 21) == "val" and split_of("FaceTalk_170811_03275_TA", 20) == "adapt"
    assert split_of("FaceTalk_170731_00024_TA", 40) == "test" and split_of("FaceTalk_170731_00024_TA", 4) == "adapt"
    assert split_of("FaceTalk_999999_99999_TA", 1) is None


def test_released_layout_converts_to_30fps_mm(sources, converted):
    out, report = converted
    assert report.layout == "released"
    assert report.sequences == {"train": 6, "val": 1, "adapt": 6, "test": 2}
    data = Dataset(out)
    assert data.fps == 30.0 and (out / TOPOLOGY_FILE).is_file()
    raw = np.load(sources["root"] / "released" / "data_verts.npy", mmap_mode="r")
    index = read_data_pickle(sources["root"] / "released" / "subj_seq_to_idx.pkl")
    templates = read_data_pickle(sources["root"] / "released" / "templates.pkl")
    subject = SUBJECTS[10]
    seq = data.load(f"{subject}_sentence21")
    rows = [index[subject]["sentence21"][f] for f in sorted(index[subject]["sentence21"])]
    expected = raw[rows][::2] * 1000.0  # every second 60 fps frame, metres -> mm, in frame order
    assert seq.vertices.shape == (18, 5023, 3) and seq.info.split == "test" and seq.info.identity == subject
    np.testing.assert_allclose(seq.vertices, expected, rtol=1e-6, atol=1e-4)
    np.testing.assert_allclose(seq.template, templates[subject] * 1000.0, rtol=1e-6, atol=1e-4)
    assert abs(len(seq.audio) - 0.6 * 16000) <= 2  # 22 kHz int16 -> 16 kHz float
    assert 0.05 < np.abs(seq.audio).max() <= 1.0


def test_faceformer_layout_gives_the_same_dataset(sources, converted, tmp_path):
    out = tmp_path / "ff"
    config = VocasetConfig(str(sources["obj"]), str(sources["masks"]))  # the .obj reader this time
    report = convert_vocaset(sources["root"] / "faceformer", out, config)
    assert report.layout == "faceformer"
    a, b = Dataset(converted[0]), Dataset(out)
    assert a.topology == b.topology  # .obj and .ply give the same triangles, so the same content name
    assert [(i.id, i.split) for i in a.infos] == [(i.id, i.split) for i in b.infos]
    for info in a.infos[:3]:
        np.testing.assert_allclose(a.load(info.id).vertices, b.load(info.id).vertices, atol=1e-3)
        assert np.abs(a.load(info.id).audio - b.load(info.id).audio).max() < 1e-3


def test_flame_topology_from_user_files(sources, converted):
    topo = get_topology(Dataset(converted[0]).topology)
    assert topo.name.startswith("flame5023-") and topo.n_vertices == 5023
    assert topo.upper_lip_mid.tolist() == [UPPER] and topo.lower_lip_mid.tolist() == [LOWER]
    assert sorted(topo.lip_vertices.tolist()) == sorted(sources["mesh"].regions["lips"].tolist())
    assert len(topo.faces) == len(read_faces(sources["ply"])) and len(topo.upper_face) > 0
    # the fixture's lips open with the audio: the distance moves, and it is measured on 3546 / 3504
    seq = Dataset(converted[0]).load(f"{SUBJECTS[0]}_sentence01")
    d = lip_distance(seq.vertices, topo)
    assert d.max() - d.min() > 2.0
    np.testing.assert_allclose(d, np.linalg.norm(seq.vertices[:, UPPER] - seq.vertices[:, LOWER], axis=-1), rtol=1e-5)


def test_bad_inputs_say_what_is_wrong(sources, tmp_path):
    with pytest.raises(VocasetError, match="not a VOCASET folder"):
        convert_vocaset(tmp_path, tmp_path / "out", VocasetConfig(str(sources["ply"]), str(sources["masks"])))
    no_lips = tmp_path / "masks.json"
    no_lips.write_text(json.dumps({"nose": [1, 2, 3]}))
    with pytest.raises(TopologyError, match="no 'lips'"):
        flame_topology(read_faces(sources["ply"]), read_regions(no_lips))
    with pytest.raises(TopologyError, match="FLAME has 5023"):
        flame_topology(np.array([[0, 1, 9000]]), {"lips": np.arange(10)})


class _Boom:
    def __reduce__(self):
        import os

        return (os.system, ("echo should-never-run",))


def test_pickles_with_code_are_refused(tmp_path):
    path = tmp_path / "templates.pkl"
    path.write_bytes(pickle.dumps({"FaceTalk": _Boom()}, protocol=2))
    with pytest.raises(DataPickleError, match="refusing to load"):
        read_data_pickle(path)


def test_transcripts_label_lip_closures(sources, tmp_path, monkeypatch):
    """A transcript makes the converter align and label; the closure lands on the lip-distance minimum."""
    import imitator.align

    class FakeAligner:  # pocketsphinx is tested in test_lips; here only the converter's wiring is
        def align(self, audio, text):
            return [("SIL", 0.0, 0.1), ("M", 0.1, 0.3), ("AA", 0.3, 0.6)]

    monkeypatch.setattr(imitator.align, "Aligner", FakeAligner)
    texts = tmp_path / "texts.json"
    subject = SUBJECTS[10]
    texts.write_text(json.dumps({"sentence01": "mama", f"{subject}_sentence02": "a map"}))
    report = convert_vocaset(sources["root"] / "released", tmp_path / "out",
                             VocasetConfig(str(sources["ply"]), str(sources["masks"]), transcripts=str(texts),
                                           subjects=(subject,)))
    assert report.labelled == 2
    data = Dataset(tmp_path / "out")
    assert [i.transcript for i in data.infos] == ["mama", "a map", ""]
    seq = data.load(f"{subject}_sentence01")
    peak = int(np.argmax(seq.lip_weights))
    d = lip_distance(seq.vertices, get_topology(data.topology))
    window = d[0:10]  # 0.3 s at 30 fps; the search starts 0.12 s before the M
    assert seq.lip_weights[peak] == 1.0 and d[peak] <= window.min() + 0.06
    assert not data.load(f"{subject}_sentence21").lip_weights.any()


def test_train_evaluate_adapt_and_render_on_flame(converted, tmp_path):
    """The model, metrics, adaptation and renderer take the FLAME topology with nothing FLAME-specific."""
    import imitator.topology as topology_module
    from imitator.checkpoint import load_model
    from imitator.evaluate import evaluate_model
    from imitator.paper import ProtocolConfig, reproduce_paper
    from imitator.adapt import AdaptConfig
    from imitator.train import TrainConfig, train

    out = converted[0]
    name = Dataset(out).topology
    best = train(TrainConfig(str(out), str(tmp_path / "prior"), encoder="mel", epochs=2, lr=1e-3,
                             model=FAST_MODEL, progress=False)).best
    assert (best / TOPOLOGY_FILE).is_file()
    topology_module._CACHE.pop(name)  # as in a fresh process: the checkpoint alone must bring the topology
    model = load_model(best)
    assert model.cfg.topology == name and model.cfg.n_vertices == 5023
    lips = get_topology(name).lip_vertices

    # the app's path: animate with the FLAME checkpoint, then render a video on its own topology
    import av

    from imitator.pipeline import animate, render_video

    seq = Dataset(out).load(f"{SUBJECTS[10]}_sentence21")
    anim = animate(seq.audio, model=model)
    assert anim.vertices.shape[1:] == (5023, 3) and anim.topology == name
    video = render_video(anim, tmp_path / "flame.mp4")
    with av.open(str(video)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) == len(anim.vertices) and frames[0].std() > 10  # a face, not an empty frame

    groups = evaluate_model(model, Dataset(out), "test")
    metrics = groups[0].metrics
    assert groups[0].n_sequences == 2 and all(np.isfinite(metrics[k]) for k in ("lip_sync_mm", "l2_face_mm"))
    # the official L2_lip counts the lip set (FLAME's) over all 5023 vertices
    assert metrics["l2_lip_official_mm"] == pytest.approx(metrics["l2_lip_mm"] * len(lips) / 5023, rel=0.05)

    result = reproduce_paper(ProtocolConfig(str(out), str(tmp_path / "paper"), checkpoint=str(best),
                                            references=(1, 2), adapt=AdaptConfig(stage1_steps=15, stage2_steps=15),
                                            faceformer=True, epochs=1, encoder="mel", model=FAST_MODEL,
                                            progress=False), log=lambda _: None)
    assert set(result.rows) == {"Imitator, generic (no adaptation)", "FaceFormer-style, generic (no adaptation)",
                                "Imitator, 1 reference", "Imitator, 2 references"}
    assert load_model(tmp_path / "paper" / "faceformer" / "best").cfg.alibi  # the baseline really is FaceFormer's
    for row in result.rows.values():
        assert all(np.isfinite(row[k]) for k in ("l2_face_mm", "l2_lip_official_mm", "f_dtw_mm", "lip_dtw_mm",
                                                  "lip_sync_mm"))
    # adapting to the subject's own sentences must fit them better than the generic style does
    generic, adapted = result.rows["Imitator, generic (no adaptation)"], result.rows["Imitator, 2 references"]
    assert adapted["l2_face_mm"] < generic["l2_face_mm"]
    table = (tmp_path / "paper" / "table.md").read_text()
    assert "| Imitator, 4 references | paper | - | 0.090 | - | - | 3.78 |" in table
    assert json.loads((tmp_path / "paper" / "results.json").read_text())["rows"].keys() == result.rows.keys()


def test_renderer_draws_a_flame_mesh(converted):
    from imitator.render import RenderOptions, Renderer

    data = Dataset(converted[0])
    topo = get_topology(data.topology)
    seq = data.load(data.infos[0])
    options = RenderOptions(width=256, height=256, samples=0)
    with Renderer(options, mesh=topo) as r:
        frames = r.render_frames(seq.vertices[:2])
        camera = r.camera(seq.vertices[:2])
    assert frames.shape == (2, 256, 256, 3)
    background = frames[0, 2, 128].astype(int)
    x, y = camera.project(seq.vertices[0, [UPPER, 0]], 256, 256).round().astype(int).T
    lip, other = frames[0, y[0], x[0]].astype(int), frames[0, 128, 128].astype(int)
    assert np.abs(other - background).sum() > 60  # the face covers the middle of the frame
    # the lip set is tinted: redder (relative to green) than the skin
    assert lip[0] / max(lip[1], 1) > other[0] / max(other[1], 1) + 0.1


def test_command_line(sources, tmp_path, capsys):
    from imitator.cli import main

    flame = ["--flame-mesh", str(sources["ply"]), "--flame-masks", str(sources["masks"])]
    with pytest.raises(SystemExit):
        main(["import-vocaset", str(tmp_path), "--out", str(tmp_path / "x"), *flame])
    assert "not a VOCASET folder" in capsys.readouterr().err
    data = tmp_path / "data"
    main(["import-vocaset", str(sources["root"] / "faceformer"), "--out", str(data), *flame,
          "--subjects", SUBJECTS[0], SUBJECTS[11], "--sentences", "1,20-30"])
    assert "faceformer layout -> 4 sequences (adapt 1, test 1, train 2)" in capsys.readouterr().out
    main(["reproduce-paper", str(data), "--out", str(tmp_path / "paper"), "--epochs", "1", "--encoder", "mel",
          "--references", "1", "--adapt-steps", "5"])
    out = capsys.readouterr().out
    assert "| Imitator, 1 reference | ours |" in out and "| Imitator, 1 reference | paper |" in out
    assert (tmp_path / "paper" / "prior" / "best" / TOPOLOGY_FILE).is_file()


def test_adapting_a_flame_model_to_mediapipe_meshes_says_why(converted, tmp_path):
    from imitator.adapt import adapt
    from imitator.errors import TopologyMismatchError
    from imitator.model import Imitator, ModelConfig

    model = Imitator(ModelConfig(n_vertices=5023, topology=Dataset(converted[0]).topology, encoder="mel", audio_dim=80))
    tracked = np.zeros((20, 468, 3), np.float32)  # what a MediaPipe-tracked selfie video gives
    with pytest.raises(TopologyMismatchError, match=r"needs \(T, 5023, 3\)"):
        adapt(model, np.zeros(16000, np.float32), tracked)
