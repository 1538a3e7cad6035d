"""Where a frame needs anti-aliasing. FXAA over every pixel of the face's box cost 0.19 s of a 5 s request
(0.93 s against 0.75 s without it), though on a face seen from the front the jagged edges are few and known:
the mesh's open border (the face's outline against the background, the eye openings, the mouth opening),
outlines within the face (a nose wing in front of the cheek), and what shows through the openings (teeth
and the mouth's inside; the iris, a sharp edge in the eye's texture). Everything else is shaded smoothly
across triangles, or is texture that bilinear filtering already smooths. So FXAA runs only on thin quads
along those edges and on the openings' boxes (docs/rendering.md, "FXAA only at the edges that can be
jagged")."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .camera import Camera
from .crop import Crop

BAND = 2  # pixels each side of an edge: FXAA changes the pixels within 1 of an edge. Against FXAA everywhere,
          # 2 leaves about 4 pixels a frame 3-7 levels off, 3 about 2, at 0.06 s more CPU per 5 s of speech


@dataclass(frozen=True)
class Edges:
    """The edges of a face mesh that can be jagged, found once per mesh: its open border, the interior edges
    with their two triangles (an edge between a triangle that faces the camera and one that faces away is
    an outline within the face, e.g. a nose wing against the cheek), and the openings' vertex loops."""

    faces: np.ndarray      # (F, 3)
    border: np.ndarray     # (B, 2) vertex pairs used by one triangle only (holes included)
    inner: np.ndarray      # (I, 2) vertex pairs used by two triangles
    sides: np.ndarray      # (I, 2) those two triangles
    openings: tuple[np.ndarray, ...]  # vertex indices (the face's, or the avatar's parts') whose box is smoothed

    @classmethod
    def of(cls, faces: np.ndarray, openings: tuple[np.ndarray, ...] = ()) -> "Edges":
        faces = np.asarray(faces, np.int64)
        pairs = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
        triangle = np.tile(np.arange(len(faces)), 3)
        edges, index, counts = np.unique(pairs, axis=0, return_inverse=True, return_counts=True)
        index = index.ravel()
        order = np.argsort(index, kind="stable")  # each edge's triangles, side by side
        first = np.searchsorted(index[order], np.arange(len(edges)))
        two = counts == 2
        sides = np.stack([triangle[order][first[two]], triangle[order][first[two] + 1]], 1)
        return cls(faces, edges[counts == 1], edges[two], sides, tuple(np.asarray(o, np.int64) for o in openings))


def edge_bands(positions: np.ndarray, edges: Edges, camera: Camera, crop: Crop, band: float = BAND) -> np.ndarray:
    """(K, 4, 2) float32 quadrilaterals (corners in order), in GL's pixels of the crop (y up), that hold every
    pixel within `band` of a jagged edge of one frame's mesh as it is drawn: one along each edge of the
    border and of the outlines within the face (`Edges`), and the box of each opening (the mouth, with the
    teeth inside; the eyes). `positions`: (V', 3) mm, the face's vertices first, then the avatar's parts
    (which openings may name). Empty when a point lies behind the camera."""
    n = max([int(edges.faces.max()) + 1 if len(edges.faces) else 0] + [int(o.max()) + 1 for o in edges.openings])
    pixels = camera.project_in_front(positions[:n], crop.frame_width, crop.frame_height)
    if pixels is None:
        return np.zeros((0, 4, 2), np.float32)
    where = (pixels - [crop.x, crop.y]) * [1, -1] + [0, crop.height]  # y down -> GL's y up
    p = where[edges.faces]
    facing = np.sign(np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]))  # the triangle's winding as drawn
    outline = edges.inner[facing[edges.sides[:, 0]] != facing[edges.sides[:, 1]]]
    pairs = np.concatenate([edges.border, outline])
    # along an edge: the segment grown by `band` at both ends and to both sides (a thin oriented box; an
    # axis-aligned box around a diagonal edge would be three times larger)
    a, b = where[pairs[:, 0]], where[pairs[:, 1]]
    along = b - a
    along /= np.maximum(np.linalg.norm(along, axis=1, keepdims=True), 1e-6)
    across = along[:, ::-1] * [-1, 1]
    grow, side = band * along, band * across
    quads = [np.stack([a - grow - side, b + grow - side, b + grow + side, a - grow + side], 1)]
    for loop in edges.openings:  # the opening's box, grown by `band`
        (x0, y0), (x1, y1) = where[loop].min(0) - band, where[loop].max(0) + band
        quads.append(np.array([[[x0, y0], [x1, y0], [x1, y1], [x0, y1]]]))
    return np.concatenate(quads).astype(np.float32)


def quad_vertices(quads: np.ndarray, shift: tuple[int, int]) -> np.ndarray:
    """(K, 4, 2) quadrilaterals -> (K * 6, 2) float32 corners of two triangles each, moved by `shift`."""
    return (quads[:, [0, 1, 2, 0, 2, 3]].reshape(-1, 2) + np.float32(shift)).astype(np.float32)
