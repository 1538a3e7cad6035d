"""Export: NPZ, OBJ zip and GLB round trips, and the glTF rules that viewers rely on."""
from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import trimesh

from imitator.data.faces import load_faces
from imitator.export import (GlbOptions, keyframes, load_glb, load_npz, load_obj_zip, read_glb, save_glb, save_npz,
                             save_obj_zip)
from imitator.topology import MEDIAPIPE_468

FACES = MEDIAPIPE_468.faces


@pytest.fixture(scope="module")
def sequence() -> np.ndarray:
    """40 frames (1.33 s at 30 fps) of a face whose lower half moves up and down."""
    t = load_faces()["May_5s"]
    lower = (t[:, 1] < t[MEDIAPIPE_468.lip_inner, 1].mean()).astype(np.float32)
    drop = 6.0 * np.sin(np.linspace(0, 2 * np.pi, 40)) ** 2
    seq = np.repeat(t[None], 40, axis=0)
    seq[:, :, 1] -= drop[:, None] * lower
    return seq


def test_npz_round_trip(tmp_path, sequence):
    save_npz(tmp_path / "a.npz", sequence, FACES, fps=30)
    loaded = load_npz(tmp_path / "a.npz")
    assert np.array_equal(loaded.vertices, sequence) and loaded.vertices.dtype == np.float32
    assert np.array_equal(loaded.faces, FACES) and loaded.fps == 30


def test_obj_zip_round_trip(tmp_path, sequence):
    path = tmp_path / "a.zip"
    save_obj_zip(path, sequence, FACES, fps=30)
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        first = z.read("frame_00000.obj")
    assert names == [f"frame_{i:05d}.obj" for i in range(len(sequence))]
    loaded = load_obj_zip(path)
    assert np.abs(loaded.vertices - sequence).max() < 1e-4
    assert np.array_equal(loaded.faces, FACES)
    mesh = trimesh.load(io.BytesIO(first), file_type="obj", process=False)  # another reader agrees
    assert np.abs(mesh.vertices - sequence[0]).max() < 1e-4 and np.array_equal(mesh.faces, FACES)


def test_glb_structure(tmp_path, sequence):
    path = tmp_path / "a.glb"
    save_glb(path, sequence, FACES, fps=30)
    gltf, binary = read_glb(path)
    primitive = gltf["meshes"][0]["primitives"][0]
    targets = primitive["targets"]
    assert len(targets) == len(sequence) - 1 == len(gltf["meshes"][0]["weights"])
    assert set(targets[0]) == {"POSITION", "NORMAL"}
    for accessor in [primitive["attributes"]["POSITION"]] + [t["POSITION"] for t in targets]:
        a = gltf["accessors"][accessor]
        assert len(a["min"]) == 3 and len(a["max"]) == 3  # glTF requires bounds on POSITION
    base = gltf["accessors"][primitive["attributes"]["POSITION"]]
    assert np.allclose(base["min"], sequence[0].min(0) / 1000, atol=1e-6)  # metres
    assert np.allclose(base["max"], sequence[0].max(0) / 1000, atol=1e-6)
    animation = gltf["animations"][0]
    assert animation["channels"][0]["target"] == {"node": 0, "path": "weights"}
    sampler = animation["samplers"][0]
    assert sampler["interpolation"] == "LINEAR"
    times = gltf["accessors"][sampler["input"]]
    assert times["count"] == len(sequence)
    assert times["min"] == [0.0] and times["max"][0] == pytest.approx((len(sequence) - 1) / 30)
    assert gltf["accessors"][sampler["output"]]["count"] == len(sequence) * len(targets)
    for view in gltf["bufferViews"]:
        assert view["byteOffset"] % 4 == 0 and view["byteOffset"] + view["byteLength"] <= len(binary)
    # Size: positions and normals per frame as float32, plus a little.
    assert path.stat().st_size < len(sequence) * 468 * 24 * 1.1 + len(sequence) ** 2 * 4 + 50_000


def test_glb_round_trip_and_trimesh(tmp_path, sequence):
    path = tmp_path / "a.glb"
    save_glb(path, sequence, FACES, fps=30)
    loaded = load_glb(path)
    assert np.abs(loaded.vertices - sequence).max() < 1e-3  # mm, through metres and morph deltas
    assert np.allclose(loaded.times, np.arange(len(sequence)) / 30)
    scene = trimesh.load(path)
    (mesh,) = scene.geometry.values()
    assert np.abs(np.asarray(mesh.vertices) * 1000 - sequence[0]).max() < 1e-3  # the base mesh: frame 0
    assert np.array_equal(np.asarray(mesh.faces), FACES)


def test_glb_keyframes_for_long_sequences(tmp_path, sequence):
    path = tmp_path / "short.glb"
    note = save_glb(path, sequence, FACES, fps=30,
                    options=GlbOptions(max_targets=9, interpolation="STEP", normals=False))
    assert note and "10 of 40 frames" in note  # a cap is never silent
    gltf, _ = read_glb(path)
    primitive = gltf["meshes"][0]["primitives"][0]
    assert len(primitive["targets"]) == 9 and "NORMAL" not in primitive["attributes"]
    assert gltf["animations"][0]["samplers"][0]["interpolation"] == "STEP"
    loaded = load_glb(path)
    keys = keyframes(len(sequence), 9)
    assert keys[0] == 0 and keys[-1] == len(sequence) - 1 and len(keys) == 10
    assert np.allclose(loaded.times, keys / 30)
    assert np.abs(loaded.vertices - sequence[keys]).max() < 1e-3
    save_glb(tmp_path / "full.glb", sequence, FACES, fps=30)
    assert path.stat().st_size < 0.2 * (tmp_path / "full.glb").stat().st_size


def test_textured_glb_keeps_the_face_picture_and_every_frame(tmp_path, sequence):
    """400 frames (more than the old 300-keyframe cap), textured: the image is in the file, the mesh has
    texture coordinates, and loading it back gives every frame."""
    from PIL import Image

    from imitator.texture import neutral_texture, with_white_patch

    long = np.concatenate([sequence] * 10)
    path = tmp_path / "face.glb"
    assert save_glb(path, long, FACES, fps=30, texture=neutral_texture()) is None
    gltf, binary = read_glb(path)
    (image,) = gltf["images"]
    view = gltf["bufferViews"][image["bufferView"]]
    png = Image.open(io.BytesIO(binary[view["byteOffset"]:view["byteOffset"] + view["byteLength"]]))
    assert image["mimeType"] == "image/png" and np.array_equal(np.asarray(png), with_white_patch(neutral_texture()))
    material = gltf["materials"][0]["pbrMetallicRoughness"]
    assert material["baseColorTexture"]["index"] == 0 and gltf["textures"][0]["source"] == 0
    primitive = gltf["meshes"][0]["primitives"][0]
    uv = gltf["accessors"][primitive["attributes"]["TEXCOORD_0"]]
    assert uv["type"] == "VEC2" and uv["count"] == gltf["accessors"][primitive["attributes"]["POSITION"]]["count"]
    loaded = load_glb(path)
    assert len(loaded.vertices) == len(long) and np.allclose(loaded.times, np.arange(len(long)) / 30)
    assert np.abs(loaded.vertices[:, :468] - long).max() < 1e-3   # the face; then eyes, mouth, teeth
    assert loaded.vertices.shape[1] > 468
    scene = trimesh.load(path)
    (mesh,) = scene.geometry.values()
    assert mesh.visual.uv.shape == (loaded.vertices.shape[1], 2)  # another reader finds the texture coordinates


def test_textured_obj_zip_has_material_and_picture(tmp_path, sequence):
    from imitator.texture import neutral_texture

    path = tmp_path / "face.zip"
    save_obj_zip(path, sequence[:3], FACES, fps=30, texture=neutral_texture())
    with zipfile.ZipFile(path) as z:
        assert {"face.mtl", "face.png", "frame_00002.obj"} <= set(z.namelist())
        obj = z.read("frame_00000.obj").decode()
        assert "map_Kd face.png" in z.read("face.mtl").decode()
    assert "mtllib face.mtl" in obj and "usemtl teeth" in obj and obj.count("\nvt ") > 468
    loaded = load_obj_zip(path)
    assert np.abs(loaded.vertices[:, :468] - sequence[:3]).max() < 1e-4
    scene = trimesh.load(io.BytesIO(obj.encode()), file_type="obj", process=False, group_material=True)
    assert len(scene.geometry) == 3   # another reader finds the three materials: face, mouth, teeth


def test_single_frame_glb_has_no_animation(tmp_path, sequence):
    save_glb(tmp_path / "one.glb", sequence[:1], FACES, fps=30)
    gltf, _ = read_glb(tmp_path / "one.glb")
    assert "animations" not in gltf and "targets" not in gltf["meshes"][0]["primitives"][0]
    assert np.abs(load_glb(tmp_path / "one.glb").vertices[0] - sequence[0]).max() < 1e-3


def test_bad_inputs(tmp_path, sequence):
    with pytest.raises(ValueError, match="faces"):
        save_npz(tmp_path / "a.npz", sequence, FACES + 1000, fps=30)
    with pytest.raises(ValueError, match="T, V, 3"):
        save_glb(tmp_path / "a.glb", sequence[0], FACES, fps=30)
    with pytest.raises(ValueError, match="LINEAR or STEP"):
        save_glb(tmp_path / "a.glb", sequence, FACES, fps=30, options=GlbOptions(interpolation="CUBIC"))
