"""Blinks: natural timing, measured on the eyelids of the generated meshes and of the rendered pictures."""
from __future__ import annotations

import numpy as np

from imitator.blinks import BlinkConfig, apply_blinks, blink_closure
from imitator.data.faces import load_faces
from imitator.render import RenderOptions, Renderer
from imitator.topology import MEDIAPIPE_468 as MP

FPS = 30.0
EYELIDS = ((159, 145), (386, 374))  # upper and lower eyelid midpoints: right eye, left eye


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(int), 0]))
    return list(zip(edges[::2], edges[1::2]))


def test_blink_rate_and_duration_from_eyelid_distances():
    """Ten minutes of a still face: 10-25 blinks a minute, each ~150 ms, no two closer than 1.5 s, and the
    lids meet at every blink."""
    face = load_faces()["May_5s"]
    n = int(600 * FPS)
    vertices = apply_blinks(np.repeat(face[None], n, 0), blink_closure(n, FPS))
    for upper, lower in EYELIDS:
        distance = np.linalg.norm(vertices[:, upper] - vertices[:, lower], axis=1)
        open_mm = np.median(distance)
        blinks = runs(distance < 0.9 * open_mm)
        per_minute = len(blinks) / 10
        durations = np.array([b - a for a, b in blinks]) / FPS
        gaps = np.diff([a for a, _ in blinks]) / FPS
        assert 10 <= per_minute <= 25, per_minute
        assert 0.1 <= durations.mean() <= 0.2 and durations.max() <= 0.25, durations
        assert gaps.min() >= 1.5 and gaps.std() > 0.5  # irregular, as people blink
        assert all(distance[a:b].min() < 0.05 * open_mm for a, b in blinks)


def test_blinks_seen_in_rendered_frames():
    """20 s rendered: the eye regions change exactly in the frames where the mesh blinks."""
    face = load_faces()["May_5s"]
    n = int(20 * FPS)
    closure = blink_closure(n, FPS, BlinkConfig(seed=3))
    vertices = apply_blinks(np.repeat(face[None], n, 0), closure)
    with Renderer(RenderOptions(width=160, height=160, samples=0)) as r:
        camera = r.camera(vertices)
        eyes = camera.project(face[np.r_[MP.right_eye, MP.left_eye]], 160, 160)
        (x0, y0), (x1, y1) = eyes.min(0).astype(int) - 2, eyes.max(0).astype(int) + 3
        open_eyes = r.render(face, camera)[y0:y1, x0:x1].astype(int)
        changed = np.array([(np.abs(f[y0:y1, x0:x1].astype(int) - open_eyes).sum(-1) > 60).mean()
                            for f in r.iter_frames(vertices, camera)])
    seen = runs(changed > 0.05)
    expected = runs(closure > 0.3)
    assert len(seen) == len(expected) >= 3
    for (a, b), (c, d) in zip(seen, expected):
        assert abs(a - c) <= 1 and abs(b - d) <= 1
        assert 2 <= b - a <= 6   # 67-200 ms at 30 fps


def test_no_blinks_leave_the_meshes_alone():
    face = load_faces()["May_5s"]
    still = np.repeat(face[None], 30, 0)
    assert np.array_equal(apply_blinks(still, np.zeros(30)), still)
