"""Mesh sequences to files other tools open: NPZ (numpy), a zip of OBJs (any 3D tool), GLB (Blender, three.js).

    save_npz("talk.npz", vertices, faces, fps=30)                   # vertices (T, V, 3) mm
    save_obj_zip("talk.zip", vertices, faces, texture=face)         # frame_00000.obj, ... in mm, + MTL + PNG
    note = save_glb("talk.glb", vertices, faces, fps=30, texture=face)  # metres, morph targets, textured

With a texture (an imitator.texture image), the OBJ and GLB files hold the avatar as the renderer draws it
(`imitator.avatar`: eyes, the mouth's inside, teeth) with the face texture; without one, the bare mesh.

GLB layout: the first frame is the base mesh; every later frame is a morph target holding its offset from
the base (positions, and normals for correct shading); one animation drives the mesh's morph `weights`,
one-hot at each frame's time. Every frame is kept unless `GlbOptions.max_targets` asks for fewer; then
evenly spaced keyframes are kept, LINEAR interpolation blends straight from one to the next (exactly linear
interpolation of the vertices), and save_glb returns a note saying so, for the CLI and the app to show.
"""
from __future__ import annotations

import json
import os
import struct
import zipfile
from dataclasses import dataclass

import numpy as np

from .errors import FileFormatError
from .render.geometry import vertex_normals

_MM_PER_M = 1000.0


@dataclass(frozen=True)
class MeshSequence:
    vertices: np.ndarray   # (T, V, 3) float32 mm
    faces: np.ndarray      # (F, 3) int32
    fps: float | None      # None where the format does not store it (OBJ)
    times: np.ndarray | None = None  # (T,) seconds, where frames are not evenly spaced (GLB keyframes)


def _check(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    vertices = np.asarray(vertices, dtype=np.float32)
    faces = np.asarray(faces, dtype=np.int32)
    if vertices.ndim != 3 or vertices.shape[-1] != 3 or len(vertices) == 0:
        raise ValueError(f"expected vertices of shape (T, V, 3) with T >= 1, got {vertices.shape}")
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.min() < 0 or faces.max() >= vertices.shape[1]:
        raise ValueError(f"faces must be (F, 3) indices below {vertices.shape[1]}, got shape {faces.shape}")
    return vertices, faces


# --- the textured avatar, for OBJ and GLB ----------------------------------------------------------------
@dataclass(frozen=True)
class Dressed:
    """A sequence dressed as the avatar: what the renderer draws, ready to write."""
    vertices: np.ndarray   # (T, V', 3) mm: the face's vertices, then the eyes', mouth's and teeth's
    faces: np.ndarray      # (F', 3) int32
    uv: np.ndarray         # (V', 2) float32, origin at the image's top-left
    colors: np.ndarray     # (V', 3) float32 sRGB vertex colours (white where the texture gives the colour)
    image: np.ndarray      # (S, S, 3) uint8: the texture, plus a white patch for the flat-coloured parts
    parts: dict            # part name -> slice of the vertices


def dress(vertices: np.ndarray, texture: np.ndarray) -> Dressed:
    """(T, 468, 3) MediaPipe meshes and a face texture -> the avatar to export."""
    from .avatar import Avatar
    from .texture import WHITE_UV, with_white_patch
    from .topology import MEDIAPIPE_468

    if vertices.shape[1] != MEDIAPIPE_468.n_vertices:
        raise ValueError(f"a textured export needs MediaPipe meshes of 468 vertices, got {vertices.shape[1]}")
    avatar = Avatar.build(MEDIAPIPE_468)
    flat = avatar.colors[:, 3] <= 0
    uv = np.where(flat[:, None], np.float32(WHITE_UV), avatar.uv).astype(np.float32)
    colors = np.where(flat[:, None], avatar.colors[:, :3], 1.0).astype(np.float32)
    return Dressed(avatar.extend(vertices), avatar.faces, uv, colors, with_white_patch(texture), avatar.parts)


def _png(image: np.ndarray) -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


# --- NPZ ---------------------------------------------------------------------------------------------------
def save_npz(path: str | os.PathLike, vertices: np.ndarray, faces: np.ndarray, fps: float) -> None:
    vertices, faces = _check(vertices, faces)
    np.savez_compressed(path, vertices=vertices, faces=faces, fps=np.float32(fps))


def load_npz(path: str | os.PathLike) -> MeshSequence:
    with np.load(path, allow_pickle=False) as z:
        return MeshSequence(z["vertices"].astype(np.float32), z["faces"].astype(np.int32), float(z["fps"]))


# --- OBJ sequence in a zip ---------------------------------------------------------------------------------
def save_obj_zip(path: str | os.PathLike, vertices: np.ndarray, faces: np.ndarray, fps: float | None = None,
                 texture: np.ndarray | None = None) -> None:
    """One OBJ per frame (frame_00000.obj, ...), in millimetres, all with the same triangles. With a texture:
    the avatar, with texture coordinates, and face.mtl + face.png in the zip (the face textured, the mouth's
    inside and the teeth in flat colours)."""
    vertices, faces = _check(vertices, faces)
    header = "# imitator mesh sequence, units: millimetres" + (f", {fps:g} fps" if fps else "") + "\n"
    vertex_format = "v %.5f %.5f %.5f\n" * vertices.shape[1]
    extra: dict[str, bytes] = {}
    if texture is None:
        face_lines = ("f %d %d %d\n" * len(faces)) % tuple((faces + 1).ravel())  # OBJ counts from 1
    else:
        dressed = dress(vertices, texture)
        vertices, faces = dressed.vertices, dressed.faces
        vertex_format = "v %.5f %.5f %.5f\n" * vertices.shape[1]
        header += "mtllib face.mtl\n" + "".join(f"vt {u:.6f} {1 - v:.6f}\n" for u, v in dressed.uv)  # OBJ: v up
        face_lines, mtl = _obj_materials(dressed)
        extra = {"face.mtl": mtl.encode(), "face.png": _png(dressed.image)}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        for name, data in extra.items():
            z.writestr(name, data)
        for i, frame in enumerate(vertices):
            z.writestr(f"frame_{i:05d}.obj", header + vertex_format % tuple(frame.ravel()) + face_lines)


def _obj_materials(dressed: Dressed) -> tuple[str, str]:
    """Face lines grouped by material (OBJ has no vertex colours): the textured face and eyes, then one flat
    material per other part, in that part's mean colour. Returns (face lines, MTL text)."""
    owner = np.full(len(dressed.vertices[0]), "face", dtype=object)
    for name, s in dressed.parts.items():
        owner[s] = "face" if name == "eyes" else name
    lines, mtl = [], []
    for material in dict.fromkeys(owner):
        mine = dressed.faces[owner[dressed.faces[:, 0]] == material] + 1
        lines.append(f"usemtl {material}\n" + ("f %d/%d %d/%d %d/%d\n" * len(mine)) % tuple(np.repeat(mine.ravel(), 2)))
        if material == "face":
            mtl.append("newmtl face\nKd 1 1 1\nKa 0 0 0\nKs 0.05 0.05 0.05\nmap_Kd face.png\n")
        else:
            color = dressed.colors[dressed.parts[material]].mean(0)
            mtl.append(f"newmtl {material}\nKd {color[0]:.3f} {color[1]:.3f} {color[2]:.3f}\nKa 0 0 0\nKs 0 0 0\n")
    return "".join(lines), "\n".join(mtl)


def load_obj_zip(path: str | os.PathLike) -> MeshSequence:
    """The frames of a zip written by save_obj_zip (or any zip of triangle OBJs), in file-name order."""
    frames, faces = [], None
    with zipfile.ZipFile(path) as z:
        for name in sorted(n for n in z.namelist() if n.lower().endswith(".obj")):
            v, f = _parse_obj(z.read(name).decode())
            frames.append(v)
            faces = f if faces is None else faces
    if not frames:
        raise FileFormatError(f"{path} holds no .obj files")
    return MeshSequence(np.stack(frames), faces, None)


def _parse_obj(text: str) -> tuple[np.ndarray, np.ndarray]:
    v, f = [], []
    for line in text.splitlines():
        parts = line.split()
        if parts and parts[0] == "v":
            v.append([float(x) for x in parts[1:4]])
        elif parts and parts[0] == "f":
            f.append([int(p.split("/")[0]) - 1 for p in parts[1:4]])
    return np.asarray(v, np.float32), np.asarray(f, np.int32)


# --- GLB ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GlbOptions:
    max_targets: int | None = None  # None: every frame; else keep this many evenly spaced keyframes (+ the base)
    interpolation: str = "LINEAR"  # or "STEP": hold each keyframe until the next
    normals: bool = True          # morph the normals too (lips shade correctly as the mouth opens; 2x size)
    color: tuple[float, float, float] = (0.78, 0.58, 0.48)  # sRGB skin, as the renderer's


def keyframes(n_frames: int, max_targets: int | None) -> np.ndarray:
    """Frame indices kept in a GLB: all of them, or max_targets + 1 evenly spaced ones including both ends."""
    if max_targets is None or n_frames <= max_targets + 1:
        return np.arange(n_frames)
    return np.unique(np.round(np.linspace(0, n_frames - 1, max_targets + 1)).astype(int))


class _BinaryBuilder:
    """Packs arrays into one 4-byte aligned binary buffer and describes them as glTF bufferViews/accessors."""

    def __init__(self):
        self.chunks: list[bytes] = []
        self.size = 0
        self.views: list[dict] = []
        self.accessors: list[dict] = []

    def view(self, data: bytes, target: int | None = None, stride: int | None = None) -> int:
        pad = (-self.size) % 4
        if pad:
            self.chunks.append(b"\0" * pad)
            self.size += pad
        view = {"buffer": 0, "byteOffset": self.size, "byteLength": len(data)}
        if target:
            view["target"] = target
        if stride:  # required when several vertex-attribute accessors share the view (the morph targets)
            view["byteStride"] = stride
        self.chunks.append(data)
        self.size += len(data)
        self.views.append(view)
        return len(self.views) - 1

    def accessor(self, view: int, array: np.ndarray, kind: str, offset: int = 0, bounds: bool = False) -> int:
        component = {np.dtype("float32"): 5126, np.dtype("uint32"): 5125, np.dtype("uint16"): 5123}[array.dtype]
        accessor = {"bufferView": view, "byteOffset": offset, "componentType": component,
                    "count": int(len(array)), "type": kind}
        if bounds:  # glTF requires min/max on POSITION accessors and animation inputs
            flat = array.reshape(len(array), -1)
            accessor["min"] = flat.min(0).tolist()
            accessor["max"] = flat.max(0).tolist()
        self.accessors.append(accessor)
        return len(self.accessors) - 1

    def blob(self) -> bytes:
        return b"".join(self.chunks) + b"\0" * ((-self.size) % 4)


def save_glb(path: str | os.PathLike, vertices: np.ndarray, faces: np.ndarray, fps: float,
             options: GlbOptions = GlbOptions(), texture: np.ndarray | None = None) -> str | None:
    """An animated GLB: vertices (T, V, 3) mm become metres; see the module docstring for the layout.
    texture: write the textured avatar (468-vertex MediaPipe meshes). Returns a note for people when frames
    were left out (options.max_targets), else None."""
    vertices, faces = _check(vertices, faces)
    if options.interpolation not in ("LINEAR", "STEP"):
        raise ValueError(f"interpolation must be LINEAR or STEP, got {options.interpolation!r}")
    keys = keyframes(len(vertices), options.max_targets)
    dressed = dress(vertices[keys], texture) if texture is not None else None
    if dressed is not None:
        vertices, faces = dressed.vertices, dressed.faces
    else:
        vertices = vertices[keys]
    positions = vertices / _MM_PER_M
    normals = vertex_normals(positions, faces) if options.normals else None
    b = _BinaryBuilder()
    V = vertices.shape[1]

    index_type = np.uint16 if V < 65536 else np.uint32
    indices = faces.astype(index_type).ravel()
    attributes = {"POSITION": b.accessor(b.view(positions[0].tobytes(), 34962), positions[0], "VEC3", bounds=True)}
    if normals is not None:
        attributes["NORMAL"] = b.accessor(b.view(normals[0].tobytes(), 34962), normals[0], "VEC3")
    material: dict = {"name": "skin", "doubleSided": True,  # the eye and mouth openings show the back
                      "pbrMetallicRoughness": {"baseColorFactor": [*(c ** 2.2 for c in options.color), 1.0],
                                               "metallicFactor": 0.0, "roughnessFactor": 0.6}}
    images = {}
    if dressed is not None:
        attributes["TEXCOORD_0"] = b.accessor(b.view(dressed.uv.tobytes(), 34962), dressed.uv, "VEC2")
        attributes["COLOR_0"] = b.accessor(b.view(dressed.colors.tobytes(), 34962), dressed.colors, "VEC3")
        material["pbrMetallicRoughness"].update(baseColorFactor=[1.0, 1.0, 1.0, 1.0],
                                                baseColorTexture={"index": 0, "texCoord": 0})
        images = {"images": [{"bufferView": b.view(_png(dressed.image)), "mimeType": "image/png", "name": "face"}],
                  "samplers": [{"magFilter": 9729, "minFilter": 9987, "wrapS": 33071, "wrapT": 33071}],
                  "textures": [{"sampler": 0, "source": 0}]}
    primitive = {"attributes": attributes, "indices": b.accessor(b.view(indices.tobytes(), 34963), indices, "SCALAR"),
                 "material": 0, "mode": 4}

    targets = []
    if len(keys) > 1:
        deltas = (positions[1:] - positions[0]).astype(np.float32)
        position_view = b.view(deltas.tobytes(), 34962, stride=12)
        targets = [{"POSITION": b.accessor(position_view, d, "VEC3", offset=k * V * 12, bounds=True)}
                   for k, d in enumerate(deltas)]
        if normals is not None:
            normal_deltas = (normals[1:] - normals[0]).astype(np.float32)
            normal_view = b.view(normal_deltas.tobytes(), 34962, stride=12)
            for k, (target, d) in enumerate(zip(targets, normal_deltas)):
                target["NORMAL"] = b.accessor(normal_view, d, "VEC3", offset=k * V * 12)
        primitive["targets"] = targets

    mesh = {"name": "face", "primitives": [primitive]}
    gltf: dict = {
        "asset": {"version": "2.0", "generator": "imitator"},
        "scene": 0, "scenes": [{"nodes": [0]}],
        "nodes": [{"name": "face", "mesh": 0}],
        "meshes": [mesh],
        "materials": [material],
        **images,
    }
    if targets:
        names = [f"frame_{k:05d}" for k in keys[1:]]
        mesh["weights"] = [0.0] * len(targets)
        mesh["extras"] = {"targetNames": names}  # Blender and three.js name shape keys from this
        times = (keys / fps).astype(np.float32)
        weights = np.zeros((len(keys), len(targets)), np.float32)  # key 0 is the base: all weights 0
        weights[np.arange(1, len(keys)), np.arange(len(targets))] = 1.0
        time_accessor = b.accessor(b.view(times.tobytes()), times, "SCALAR", bounds=True)
        weight_accessor = b.accessor(b.view(weights.tobytes()), weights.ravel(), "SCALAR")
        gltf["animations"] = [{
            "name": "speech",
            "samplers": [{"input": time_accessor, "output": weight_accessor, "interpolation": options.interpolation}],
            "channels": [{"sampler": 0, "target": {"node": 0, "path": "weights"}}],
        }]
    binary = b.blob()
    gltf.update(buffers=[{"byteLength": len(binary)}], bufferViews=b.views, accessors=b.accessors)
    _write_glb(path, gltf, binary)
    n_frames = int(keys[-1]) + 1
    if len(keys) < n_frames:
        return (f"the GLB keeps {len(keys)} of {n_frames} frames (max_targets={options.max_targets}), evenly "
                "spaced; players blend between them")
    return None


def _write_glb(path: str | os.PathLike, gltf: dict, binary: bytes) -> None:
    text = json.dumps(gltf, separators=(",", ":")).encode()
    text += b" " * ((-len(text)) % 4)  # the JSON chunk is padded with spaces, the BIN chunk with zeros
    total = 12 + 8 + len(text) + 8 + len(binary)
    with open(path, "wb") as f:
        f.write(struct.pack("<4sII", b"glTF", 2, total))
        f.write(struct.pack("<I4s", len(text), b"JSON") + text)
        f.write(struct.pack("<I4s", len(binary), b"BIN\0") + binary)


def read_glb(path: str | os.PathLike) -> tuple[dict, bytes]:
    """The JSON and binary chunks of a GLB file."""
    with open(path, "rb") as f:
        data = f.read()
    magic, version, total = struct.unpack_from("<4sII", data, 0)
    if magic != b"glTF" or version != 2 or total != len(data):
        raise FileFormatError(f"{path} is not a glTF 2.0 binary (magic {magic!r}, version {version}, length {total})")
    json_len, json_type = struct.unpack_from("<I4s", data, 12)
    gltf = json.loads(data[20:20 + json_len])
    binary = b""
    if 20 + json_len < len(data):
        bin_len, _ = struct.unpack_from("<I4s", data, 20 + json_len)
        binary = data[28 + json_len: 28 + json_len + bin_len]
    return gltf, binary


def _accessor_array(gltf: dict, binary: bytes, index: int) -> np.ndarray:
    a = gltf["accessors"][index]
    view = gltf["bufferViews"][a["bufferView"]]
    dtype = {5126: np.float32, 5125: np.uint32, 5123: np.uint16}[a["componentType"]]
    width = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4}[a["type"]]
    start = view.get("byteOffset", 0) + a.get("byteOffset", 0)
    array = np.frombuffer(binary, dtype, a["count"] * width, start)
    return array.reshape(a["count"], width) if width > 1 else array


def load_glb(path: str | os.PathLike) -> MeshSequence:
    """The keyframes of a GLB written by save_glb, evaluated from its morph targets and animation, in mm."""
    gltf, binary = read_glb(path)
    primitive = gltf["meshes"][0]["primitives"][0]
    base = _accessor_array(gltf, binary, primitive["attributes"]["POSITION"])
    faces = _accessor_array(gltf, binary, primitive["indices"]).astype(np.int32).reshape(-1, 3)
    targets = [_accessor_array(gltf, binary, t["POSITION"]) for t in primitive.get("targets", [])]
    if not targets:
        return MeshSequence(base[None] * _MM_PER_M, faces, None, np.zeros(1, np.float32))
    sampler = gltf["animations"][0]["samplers"][0]
    times = _accessor_array(gltf, binary, sampler["input"])
    weights = _accessor_array(gltf, binary, sampler["output"]).reshape(len(times), len(targets))
    frames = base[None] + np.einsum("kt,tvc->kvc", weights, np.stack(targets))
    return MeshSequence((frames * _MM_PER_M).astype(np.float32), faces, None, times)
