"""FXAA only where a frame can be jagged (render/edges.py): the mesh's border, the outlines within the face
(a triangle facing the camera beside one facing away) and the mouth and eye openings. The frames must be
what FXAA over every pixel gives ("fxaa-full"), also on a turned head, where the nose hides part of a cheek."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from imitator.render import Camera, RenderOptions, Renderer
from imitator.render.crop import Crop
from imitator.render.edges import Edges, edge_bands, quad_vertices

SIZE = 256


def test_edges_of_two_triangles():
    edges = Edges.of(np.array([[0, 1, 2], [2, 1, 3]]), openings=(np.array([0, 1, 2]),))
    assert sorted(map(tuple, edges.border)) == [(0, 1), (0, 2), (1, 3), (2, 3)]
    assert edges.inner.tolist() == [[1, 2]] and sorted(edges.sides[0].tolist()) == [0, 1]
    assert len(edges.openings) == 1


def _bands(positions: np.ndarray) -> np.ndarray:
    edges = Edges.of(np.array([[0, 1, 2], [2, 1, 3]]))
    camera = Camera.fit(positions, 1.0, 16.0, 0.7)
    return edge_bands(positions, edges, camera, Crop.full(SIZE, SIZE))


def test_a_fold_is_an_edge_and_a_flat_seam_is_not():
    flat = np.array([[0, 0, 0], [10, 0, 0], [0, 10, 0], [10, 10, 0]], np.float32)
    assert len(_bands(flat)) == 4  # the border only: the shared edge is shaded smoothly
    folded = flat.copy()
    folded[3] = [-5, -5, -3]  # the second triangle folded back over the first: it faces away
    assert len(_bands(folded)) == 5
    quads = _bands(flat)
    corners = quad_vertices(quads, (10, 20))
    assert corners.shape == (4 * 6, 2) and np.allclose(corners[0], quads[0, 0] + [10, 20])


def test_a_band_holds_every_pixel_near_its_edge():
    flat = np.array([[0, 0, 0], [10, 0, 0], [0, 10, 0], [10, 10, 0]], np.float32)
    camera = Camera.fit(flat, 1.0, 16.0, 0.7)
    a, b = (camera.project(flat[[0, 1]], SIZE, SIZE) * [1, -1] + [0, SIZE])  # edge (0, 1), GL's y up
    quad = next(q for q in _bands(flat) if np.allclose(sorted(q[:, 1])[1:3], sorted(q[:, 1])[1:3]) and
                np.linalg.norm(q.mean(0) - (a + b) / 2) < 1)

    def inside(p):  # a convex quadrilateral in order: the point is on the same side of every side
        cross = [np.cross(quad[(i + 1) % 4] - quad[i], p - quad[i]) for i in range(4)]
        return all(c >= 0 for c in cross) or all(c <= 0 for c in cross)

    normal = (b - a)[::-1] * [-1, 1] / np.linalg.norm(b - a)
    from imitator.render.edges import BAND

    for t in np.linspace(0, 1, 7):
        assert inside(a + t * (b - a) + (BAND - 0.5) * normal) and inside(a + t * (b - a) - (BAND - 0.5) * normal)
    assert not inside(a + 0.5 * (b - a) + (BAND + 1) * normal)


@pytest.fixture(scope="module")
def turned() -> np.ndarray:
    """The demo rig speaking, head turned 15 degrees: the nose wing hides part of the far cheek."""
    from benchmarks.speed_render import demo_sequences

    frames = demo_sequences(0.3)[1]
    c, s = np.cos(np.radians(15)), np.sin(np.radians(15))
    centre = frames[0].mean(0)
    return ((frames - centre) @ np.array([[c, 0, -s], [0, 1, 0], [s, 0, c]], np.float32).T + centre).astype(np.float32)


def test_fxaa_at_the_edges_is_fxaa_everywhere(turned):
    options = RenderOptions(width=SIZE, height=SIZE)
    with Renderer(options) as edges, Renderer(dataclasses.replace(options, antialias="fxaa-full")) as full, \
            Renderer(dataclasses.replace(options, antialias="none")) as none:
        quads = []
        smooth = edges._smooth_bands
        edges._smooth_bands = lambda tiles, bands, *a: quads.extend(bands) or smooth(tiles, bands, *a)
        a, b, c = (np.stack(list(r.iter_frames(turned))) for r in (edges, full, none))
        camera = edges.camera(turned)
        crop = edges._crop(turned, edges.avatar.rest_face(turned), camera)
        bands = edge_bands(edges.avatar.extend(turned[0]), edges._edges, camera, crop)
    assert len(bands) > len(edges._edges.border) + len(edges._edges.openings)  # outlines within the face too
    assert quads and all(len(q) for q in quads)  # the pass ran, on every frame
    assert (np.abs(c.astype(int) - b).max(-1) > 8).mean() > 1e-3  # FXAA changed the picture...
    d = np.abs(a.astype(int) - b).max(-1)
    # ...and only at the edges: the same picture, but for the eyebrows, whose texture edges FXAA everywhere
    # softened a little on a head turned this far (about 5 pixels a frame by more than 8 levels, some 70 by more
    # than 2); on the bundled model's frontal output no pixel differs by more than 7 (docs/rendering.md)
    assert (d > 8).mean() < 1e-4, (d > 8).sum()
    assert (d > 2).mean() < 2e-3, (d > 2).sum()
