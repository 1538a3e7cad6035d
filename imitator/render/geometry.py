"""Per-vertex geometry the shading needs: smooth normals, creases (a cheap ambient occlusion), the lip area."""
from __future__ import annotations

import numpy as np

from ..topology import Topology


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Smooth unit normals (..., V, 3): the area-weighted sum of the normals of the triangles at each vertex."""
    v = np.asarray(vertices, dtype=np.float32)
    a, b, c = v[..., faces[:, 0], :], v[..., faces[:, 1], :], v[..., faces[:, 2], :]
    face_n = np.cross(b - a, c - a)  # length = 2 x area, so big triangles count more
    corners = faces.T.ravel()  # every corner of every face; the face's normal goes to each of its corners
    n = scatter_sum(np.concatenate([face_n] * 3, axis=-2), corners, v.shape[-2])
    return (n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)).astype(np.float32)


def cavity(vertices: np.ndarray, normals: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """(..., V) how far (mm) each vertex's neighbours lie in front of it along its normal: > 0 in creases and
    hollows (eye sockets, nostrils, mouth corners), where less ambient light reaches the skin."""
    depth = ((neighbour_mean(vertices, edges) - vertices) * normals).sum(-1)
    return 0.5 * (depth + neighbour_mean(depth[..., None], edges)[..., 0])  # smoothed: tracking noise isn't a crease


def neighbour_mean(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """(..., V, C) -> (..., V, C): each vertex's mean over the vertices it shares an edge with."""
    ends, starts = edges.ravel(), edges[:, ::-1].ravel()   # each edge both ways
    n = values.shape[-2]
    total = scatter_sum(values[..., starts, :], ends, n)
    return (total / np.maximum(np.bincount(ends, minlength=n), 1)[:, None]).astype(values.dtype)


def scatter_sum(values: np.ndarray, index: np.ndarray, n: int) -> np.ndarray:
    """(..., K, C) values summed into (..., n, C) at rows `index` (K,): one bincount per channel over all
    leading dimensions at once (several times faster than np.add.at), so a whole sequence costs one call."""
    lead, (k, channels) = values.shape[:-2], values.shape[-2:]
    count = int(np.prod(lead, dtype=int))
    rows = (np.arange(count)[:, None] * n + index[None]).ravel()
    flat = values.reshape(count * k, channels)
    out = np.stack([np.bincount(rows, flat[:, c], count * n) for c in range(channels)], -1)
    return out.reshape(*lead, n, channels)


def mesh_edges(faces: np.ndarray) -> np.ndarray:
    """(E, 2) the undirected edges of triangles (F, 3), each once, smaller index first."""
    e = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    return np.unique(e, axis=0)


def lip_mask(vertices: np.ndarray, topology: Topology) -> np.ndarray:
    """(V,) 1.0 for vertices on or inside the outer lip contour seen from the front (x, y), else 0.0."""
    return inside_polygon(vertices[:, :2], vertices[topology.lip_outer, :2], topology.lip_outer)


def inside_polygon(points: np.ndarray, polygon: np.ndarray, on_edge: np.ndarray | None = None) -> np.ndarray:
    """(N,) 1.0 where 2D `points` (N, 2) lie inside `polygon` (K, 2), else 0.0; `on_edge` indices count as in."""
    x, y = points[:, 0:1], points[:, 1:2]
    (x0, y0), (x1, y1) = polygon.T[:, None, :], np.roll(polygon, -1, axis=0).T[:, None, :]
    # Even-odd ray casting to +x against every polygon edge at once.
    crosses = ((y0 > y) != (y1 > y)) & (x < x0 + (y - y0) * (x1 - x0) / np.where(y1 == y0, 1e-12, y1 - y0))
    inside = crosses.sum(1) % 2 == 1
    if on_edge is not None:
        inside[on_edge] = True
    return inside.astype(np.float32)
