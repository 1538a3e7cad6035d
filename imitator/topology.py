"""Mesh topologies: triangles and named vertex sets, plus the lip distance measured on them.

Everything downstream (model, renderer, metrics, tracker) takes a `Topology` instead of hard-coding vertex
indices, so a second topology (e.g. FLAME's 5023 vertices) is one more registry entry.

Coordinate convention for vertices on every topology: x to the subject's left (image right), y up, z toward
the camera, millimetres. A right-handed frame; triangle normals (counter-clockwise winding) face the camera.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True, eq=False)
class Topology:
    """A triangle mesh's connectivity and the vertex sets that the rest of the package names."""

    name: str
    n_vertices: int
    faces: np.ndarray          # (F, 3) int32, counter-clockwise seen from the camera (+z)
    lip_outer: np.ndarray      # outer lip contour, in loop order
    lip_inner: np.ndarray      # inner lip contour (the mouth opening), in loop order
    lip_vertices: np.ndarray   # vertices used by lip metrics: union of both contours
    upper_lip_mid: np.ndarray  # inner upper-lip midpoint(s); lip distance = |mean(upper) - mean(lower)|
    lower_lip_mid: np.ndarray
    jaw: np.ndarray            # lower face contour, ear to ear through the chin
    left_eye: np.ndarray       # subject's left eye contour
    right_eye: np.ndarray
    upper_face: np.ndarray     # above the nose tip (forehead, eyes, nose bridge, upper cheeks): FDD metric
    rigid: np.ndarray          # points that move with the skull only: head-pose stabilisation
    mirror: np.ndarray | None = None  # left-right symmetry: vertex i's mirror is mirror[i] (None: unknown)


_ASSETS = Path(__file__).parent / "assets"

# MediaPipe Face Mesh vertex indices (mediapipe.solutions.face_mesh_connections names the contours).
_MP_LIP_OUTER = [61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185]
_MP_LIP_INNER = [78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308, 415, 310, 311, 312, 13, 82, 81, 80, 191]
_MP_LEFT_EYE = [263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466]
_MP_RIGHT_EYE = [33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246]
_MP_JAW = [234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288, 361, 323, 454]
# Forehead, nose bridge, temples and eye corners: the skin there barely moves when speaking or smiling.
# Cheeks, brows, eyelids and the nose tip (it follows the upper lip) are left out on purpose.
_MP_RIGID = [10, 151, 9, 8, 109, 67, 103, 338, 297, 332, 108, 69, 337, 299,   # forehead
             168, 6, 197, 195,                                               # nose bridge
             127, 162, 356, 389, 21, 251,                                    # temples
             33, 133, 263, 362]                                              # eye corners


def _ix(values) -> np.ndarray:
    a = np.asarray(values, dtype=np.int32)
    a.setflags(write=False)
    return a


def _mediapipe468() -> Topology:
    # upper_face was computed once from a frontal tracked frame: vertices above the line through the nose
    # tip (vertex 1) perpendicular to the eye axis. faces: see derive_mediapipe468_faces(); mirror: see
    # derive_mirror() (run on the shipped real faces, imitator/data/faces.npz).
    with np.load(_ASSETS / "mediapipe468.npz", allow_pickle=False) as data:
        faces, upper_face, mirror = data["faces"], data["upper_face"], data["mirror"]
    return Topology(
        name="mediapipe468", n_vertices=468, faces=_ix(faces),
        lip_outer=_ix(_MP_LIP_OUTER), lip_inner=_ix(_MP_LIP_INNER),
        lip_vertices=_ix(sorted(set(_MP_LIP_OUTER) | set(_MP_LIP_INNER))),
        upper_lip_mid=_ix([13]), lower_lip_mid=_ix([14]),
        jaw=_ix(_MP_JAW), left_eye=_ix(_MP_LEFT_EYE), right_eye=_ix(_MP_RIGHT_EYE),
        upper_face=_ix(upper_face), rigid=_ix(_MP_RIGID), mirror=_ix(mirror),
    )


_BUILDERS = {"mediapipe468": _mediapipe468}
_CACHE: dict[str, Topology] = {}

# Data-driven topologies (e.g. FLAME, whose faces and regions come from the user's files) travel as a
# TOPOLOGY_FILE in the dataset folder and in the checkpoint folder; reading either registers it by name.
TOPOLOGY_FILE = "topology.npz"
_INDEX_FIELDS = ("faces", "lip_outer", "lip_inner", "lip_vertices", "upper_lip_mid", "lower_lip_mid", "jaw",
                 "left_eye", "right_eye", "upper_face", "rigid")


def get_topology(name: str = "mediapipe468") -> Topology:
    """The topology called `name`: a built-in one (built once, then shared) or one registered from a file."""
    if name not in _CACHE:
        if name not in _BUILDERS:
            raise KeyError(f"unknown topology {name!r}; known: {sorted(set(_BUILDERS) | set(_CACHE))} "
                           f"(a dataset or checkpoint folder with a {TOPOLOGY_FILE} registers its own)")
        _CACHE[name] = _BUILDERS[name]()
    return _CACHE[name]


def register_topology(topology: Topology) -> Topology:
    """Make `topology` known to get_topology. Names of file-based topologies end in a hash of their
    content (see content_name), so two different meshes can never share a name."""
    if topology.name in _BUILDERS:
        from .errors import TopologyError

        raise TopologyError(f"{topology.name!r} is a built-in topology and cannot be replaced")
    _CACHE[topology.name] = topology
    return topology


def stored_topology(name: str) -> Topology | None:
    """The registered data-driven topology called `name`; None for built-in or unknown names."""
    return None if name in _BUILDERS else _CACHE.get(name)


def content_name(prefix: str, arrays: dict[str, np.ndarray]) -> str:
    """prefix + '-' + the first 8 hex digits of a SHA-1 over the arrays (fixed key order)."""
    import hashlib

    h = hashlib.sha1()
    for key in sorted(arrays):
        h.update(key.encode())
        h.update(np.ascontiguousarray(arrays[key], dtype=np.int64).tobytes())
    return f"{prefix}-{h.hexdigest()[:8]}"


def save_topology(topology: Topology, path: str | Path) -> Path:
    """Write a topology as .npz (integer arrays and the name; no pickles)."""
    path = Path(path)
    np.savez(path, name=np.array(topology.name), n_vertices=np.array(topology.n_vertices),
             **{k: np.asarray(getattr(topology, k), dtype=np.int32) for k in _INDEX_FIELDS})
    return path


def load_topology(path: str | Path) -> Topology:
    """Read a topology written by save_topology and register it (so get_topology(name) finds it)."""
    with np.load(path, allow_pickle=False) as z:
        missing = [k for k in ("name", "n_vertices", *_INDEX_FIELDS) if k not in z.files]
        if missing:
            from .errors import FileFormatError

            raise FileFormatError(f"{path} is not a topology file (missing {missing})")
        topology = Topology(name=str(z["name"]), n_vertices=int(z["n_vertices"]),
                            **{k: _ix(z[k].reshape(-1, 3) if k == "faces" else z[k]) for k in _INDEX_FIELDS})
    if topology.name in _BUILDERS:
        return get_topology(topology.name)
    return register_topology(topology)


def load_folder_topology(folder: str | Path) -> Topology | None:
    """The topology stored in a dataset or checkpoint folder, registered; None if it has none."""
    path = Path(folder) / TOPOLOGY_FILE
    return load_topology(path) if path.is_file() else None


MEDIAPIPE_468 = get_topology("mediapipe468")


def lip_distance(vertices, topology: Topology = MEDIAPIPE_468):
    """Distance between the inner upper- and lower-lip midpoints, in the vertices' units (mm).

    vertices: (V, 3) -> float, or (T, V, 3) -> (T,). numpy arrays give numpy, torch tensors give torch.
    """
    upper_ix, lower_ix = topology.upper_lip_mid, topology.lower_lip_mid
    if not isinstance(vertices, np.ndarray):
        vertices = vertices if hasattr(vertices, "norm") else np.asarray(vertices)
        upper_ix, lower_ix = upper_ix.tolist(), lower_ix.tolist()  # torch warns on read-only index arrays
    diff = vertices[..., upper_ix, :].mean(-2) - vertices[..., lower_ix, :].mean(-2)
    if isinstance(diff, np.ndarray):
        return np.linalg.norm(diff, axis=-1)
    return diff.norm(dim=-1)  # torch: keeps autograd, device and dtype


def mirror_vertices(vertices, topology: Topology = MEDIAPIPE_468):
    """The left-right mirror image of meshes (..., V, 3): vertex i takes its mirror vertex's position with
    x negated. A mirrored talking face is another plausible talking face (training augmentation); motion
    relative to a mirrored template is the mirrored motion, whatever the plane's offset in x."""
    if topology.mirror is None:
        from .errors import TopologyError

        raise TopologyError(f"topology {topology.name!r} has no left-right vertex map to mirror with")
    out = vertices[..., topology.mirror.tolist(), :].copy() if isinstance(vertices, np.ndarray) \
        else vertices[..., topology.mirror.tolist(), :].clone()
    out[..., 0] = -out[..., 0]
    return out


def derive_mirror(faces: np.ndarray) -> np.ndarray:
    """Vertex correspondence under left-right reflection, from neutral faces (F, V, 3) in our axes.

    Each face is reflected about the plane x = its mean x (faces are near-symmetric and head-pose free), and
    vertex i is matched to vertex j minimising the distance between reflected i and j, summed over the faces:
    a one-to-one assignment (Hungarian). The cost is symmetric (a reflection is its own inverse), and on
    MediaPipe's 468 it gives an involution: pairs such as the mouth corners 61/291 and the midline fixed."""
    from scipy.optimize import linear_sum_assignment

    faces = np.asarray(faces, dtype=np.float64).reshape(-1, *np.shape(faces)[-2:])
    cost = 0.0
    for face in faces:
        reflected = face.copy()
        reflected[:, 0] = 2 * face[:, 0].mean() - reflected[:, 0]
        cost = cost + np.linalg.norm(reflected[:, None] - face[None], axis=-1)
    rows, cols = linear_sum_assignment(cost)
    return cols[np.argsort(rows)].astype(np.int32)


def derive_mediapipe468_faces() -> np.ndarray:
    """Re-derive the 852 MediaPipe triangles from mediapipe's tessellation edges (needs mediapipe).

    FACEMESH_TESSELATION lists directed edges. Its undirected graph has 854 3-cliques; two of them,
    (279, 294, 358) and (49, 64, 129), are not faces (each of their edges already borders two other
    triangles). The remaining 852 are wound consistently by breadth-first search (neighbours traverse their
    shared edge in opposite directions). The 88 boundary triangles are the only ones whose edges appear in
    one direction only, and all of them agree on one winding: that winding faces the camera in our axes.
    """
    from collections import deque

    import mediapipe as mp

    directed = set(mp.solutions.face_mesh_connections.FACEMESH_TESSELATION)
    neighbours: dict[int, set[int]] = {}
    for a, b in directed:
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)
    cliques = {tuple(sorted((a, b, c))) for a, b in directed for c in neighbours[a] & neighbours[b]}
    tris = sorted(cliques - {(279, 294, 358), (49, 64, 129)})

    def edges(t):
        return [(t[0], t[1]), (t[1], t[2]), (t[2], t[0])]

    by_edge: dict[frozenset, list[int]] = {}
    for i, t in enumerate(tris):
        for e in edges(t):
            by_edge.setdefault(frozenset(e), []).append(i)
    wound: list[tuple | None] = [None] * len(tris)
    wound[0] = tris[0]
    queue = deque([0])
    while queue:
        i = queue.popleft()
        for a, b in edges(wound[i]):
            for j in by_edge[frozenset((a, b))]:
                if wound[j] is None:
                    x, y, z = tris[j]
                    wound[j] = (x, z, y) if (a, b) in edges((x, y, z)) else (x, y, z)
                    queue.append(j)
    faces = np.array(wound, dtype=np.int32)
    one_way = [t for t in wound if all((b, a) not in directed for a, b in edges(t))]
    if all((b, a) in directed for t in one_way for a, b in edges(t)):  # boundary disagrees: flip all
        faces = faces[:, [0, 2, 1]]
    return faces
