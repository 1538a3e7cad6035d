"""The FLAME topology (5023 vertices: VOCASET's meshes), built from the user's own FLAME files.

FLAME's triangles and vertex regions come with its licence, so none ship with imitator. A VOCASET holder has
them: the faces from any FLAME mesh file (VOCA's `template/FLAME_sample.ply`, FLAME 2020's
`head_template.obj`, or an .npz with `faces`), the lip vertices from `FLAME_masks.pkl` (key `lips`; an .npz or
.json with a `lips` array works too). The result is an ordinary `Topology`, saved into the dataset folder
and then into every checkpoint trained on it (`imitator.topology.TOPOLOGY_FILE`), so the model, metrics,
lip labels, adaptation and renderer use it without knowing it is FLAME.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .errors import FileFormatError, TopologyError
from .topology import Topology, _ix, content_name

FLAME_VERTICES = 5023
# Inner upper- and lower-lip midpoints: the lip distance for the lip-contact labels and closure metrics.
LIP_DISTANCE_VERTICES = (3546, 3504)


def read_faces(path: str | os.PathLike) -> np.ndarray:
    """(F, 3) int32 triangles of a mesh file: .obj (polygons fan-triangulated), .ply, or .npz (`faces`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such mesh file: {path}")
    suffix = path.suffix.lower()
    if suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            if "faces" not in z.files:
                raise FileFormatError(f"{path} has no 'faces' array")
            faces = z["faces"]
    elif suffix == ".obj":
        faces = _obj_faces(path)
    elif suffix == ".ply":
        import trimesh

        mesh = trimesh.load(path, process=False, force="mesh")  # process=False keeps FLAME's vertex order
        faces = np.asarray(mesh.faces)
    else:
        raise FileFormatError(f"{path}: give the FLAME faces as .obj, .ply or .npz")
    faces = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    if len(faces) == 0:
        raise FileFormatError(f"{path} has no triangles")
    return faces.astype(np.int32)


def _obj_faces(path: Path) -> np.ndarray:
    """Vertex indices of the `f` lines (texture and normal indices dropped, so FLAME's order is kept)."""
    tris = []
    for line in path.read_text(errors="replace").splitlines():
        if not line.startswith("f "):
            continue
        corners = [int(token.split("/")[0]) for token in line.split()[1:]]
        corners = [c - 1 if c > 0 else c for c in corners]  # OBJ counts from 1; negatives count from the end
        tris += [(corners[0], corners[i], corners[i + 1]) for i in range(1, len(corners) - 1)]
    return np.array(tris, dtype=np.int64)


def read_regions(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Named vertex sets: FLAME_masks.pkl (a plain-data pickle), .npz or .json ({name: [indices]})."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".pkl":
        from .data.pickles import read_data_pickle

        raw = read_data_pickle(path)
    elif suffix == ".npz":
        with np.load(path, allow_pickle=False) as z:
            raw = {k: z[k] for k in z.files}
    elif suffix == ".json":
        raw = json.loads(path.read_text())
    else:
        raise FileFormatError(f"{path}: give the regions as FLAME_masks.pkl, .npz or .json")
    if not isinstance(raw, dict):
        raise FileFormatError(f"{path} does not hold named vertex sets (a dict of index arrays)")
    return {str(k): np.asarray(v, dtype=np.int64).reshape(-1) for k, v in raw.items()}


def flame_topology(faces: np.ndarray, regions: dict[str, np.ndarray], template: np.ndarray | None = None,
                   lip_distance_vertices: tuple[int, int] = LIP_DISTANCE_VERTICES,
                   n_vertices: int = FLAME_VERTICES) -> Topology:
    """A FLAME Topology from its triangles and named regions (`lips` required).

    upper_face (for FDD) is the union of the `forehead`, `eye_region` and `nose` regions where the file has
    them, else (with a template) the vertices above the midpoint between the mouth and the top of the head.
    FLAME meshes are registered, so head pose is already removed: `rigid` (used only for stabilising
    tracked video) is the forehead. Contour loops (lip_outer, eyes, jaw) are left empty: the renderer then
    tints the lip set and does not cap openings (FLAME's eyeballs fill its eyes)."""
    faces = np.asarray(faces, dtype=np.int64)
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise TopologyError(f"faces must be (F, 3), got {faces.shape}")
    if faces.min() < 0 or faces.max() >= n_vertices:
        raise TopologyError(f"faces index vertices {faces.min()}..{faces.max()}, but FLAME has {n_vertices}")
    if "lips" not in regions:
        raise TopologyError(f"the region file has no 'lips' set (it has {sorted(regions)})")
    lips = np.unique(regions["lips"])
    upper, lower = (int(i) for i in lip_distance_vertices)
    for name, ix in (("lips", lips), ("lip distance", np.array([upper, lower]))):
        if len(ix) == 0 or ix.min() < 0 or ix.max() >= n_vertices:
            raise TopologyError(f"the {name} vertices must lie in 0..{n_vertices - 1}")
    upper_names = [k for k in ("forehead", "eye_region", "nose") if k in regions]
    if upper_names:
        upper_face = np.unique(np.concatenate([regions[k] for k in upper_names]))
    elif template is not None:
        t = np.asarray(template, dtype=np.float64)
        mouth_y = t[[upper, lower], 1].mean()
        upper_face = np.flatnonzero(t[:, 1] > (mouth_y + t[:, 1].max()) / 2)
    else:
        upper_face = np.zeros(0, dtype=np.int64)
    rigid = np.unique(regions["forehead"]) if "forehead" in regions else upper_face
    arrays = {"faces": faces, "lips": lips, "lip_distance": np.array([upper, lower]), "upper_face": upper_face}
    empty = np.zeros(0, dtype=np.int32)
    return Topology(
        name=content_name(f"flame{n_vertices}", arrays), n_vertices=n_vertices, faces=_ix(faces),
        lip_outer=_ix(empty), lip_inner=_ix(empty), lip_vertices=_ix(lips),
        upper_lip_mid=_ix([upper]), lower_lip_mid=_ix([lower]), jaw=_ix(empty), left_eye=_ix(empty),
        right_eye=_ix(empty), upper_face=_ix(upper_face), rigid=_ix(rigid))
