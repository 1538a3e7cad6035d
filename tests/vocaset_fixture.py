"""Small VOCASET folders in the exact released layouts, made from random-but-plausible data.

The real VOCASET is licence-gated, so tests build their own: 5023-vertex FLAME-sized meshes in metres at
60 fps (a face-shaped grid whose lower lip opens with the audio envelope, differently for each subject),
22 kHz int16 audio, the pickles with VOCASET's keys and nesting (protocol 2, as Python 2 wrote them), a
FLAME-like mesh file and FLAME_masks.pkl with a `lips` set, the lip-distance vertices at 3546 / 3504.
"""
from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from conftest import speechlike

SUBJECTS = ("FaceTalk_170728_03272_TA", "FaceTalk_170904_00128_TA", "FaceTalk_170725_00137_TA",
            "FaceTalk_170915_00223_TA", "FaceTalk_170811_03274_TA", "FaceTalk_170913_03279_TA",
            "FaceTalk_170904_03276_TA", "FaceTalk_170912_03278_TA", "FaceTalk_170811_03275_TA",
            "FaceTalk_170908_03277_TA", "FaceTalk_170809_00138_TA", "FaceTalk_170731_00024_TA")
AUDIO_RATE = 22000
N_VERTICES = 5023
UPPER, LOWER = 3546, 3504


@dataclass
class FlameLike:
    vertices: np.ndarray  # (5023, 3) metres, neutral
    faces: np.ndarray  # (F, 3)
    regions: dict  # name -> vertex indices
    lower_weight: np.ndarray  # (5023,) how much each vertex follows the jaw


def flame_like_mesh() -> FlameLike:
    """A 71 x 70 grid on an ellipsoidal face (mm scale / 1000), plus 53 loose 'eyeball' vertices, with the
    grid vertices at the mouth's centre moved to indices 3546 (upper lip) and 3504 (lower lip)."""
    rows, cols = 70, 71
    phi = np.deg2rad(np.linspace(-60, 60, rows))[:, None]
    theta = np.deg2rad(np.linspace(-70, 70, cols))[None, :]
    grid = np.stack([75 * np.sin(theta) * np.cos(phi), 100 * np.sin(phi) + 0 * theta,
                     90 * np.cos(theta) * np.cos(phi)], -1).reshape(-1, 3)
    ij = lambda i, j: i * cols + j  # noqa: E731
    faces = [(ij(i, j), ij(i, j + 1), ij(i + 1, j + 1)) for i in range(rows - 1) for j in range(cols - 1)]
    faces += [(ij(i, j), ij(i + 1, j + 1), ij(i + 1, j)) for i in range(rows - 1) for j in range(cols - 1)]
    extra = np.random.default_rng(1).normal(0, 5, (N_VERTICES - len(grid), 3)) + [0, 30, 40]
    verts = np.concatenate([grid, extra])
    mouth_row, mid = 24, cols // 2  # about -20 degrees: below the nose
    upper_old, lower_old = ij(mouth_row + 1, mid), ij(mouth_row, mid)
    perm = np.arange(N_VERTICES)  # new index of each old vertex
    for old, new in ((upper_old, UPPER), (lower_old, LOWER)):
        where = int(np.flatnonzero(perm == new)[0])
        perm[where], perm[old] = perm[old], new
    new_verts = np.empty_like(verts)
    new_verts[perm] = verts
    faces = perm[np.array(faces)]
    centre = (grid[upper_old] + grid[lower_old]) / 2
    d = (verts - centre) / [25.0, 9.0, 100.0]
    lips_old = np.flatnonzero((d[:, :2] ** 2).sum(1) < 1.0)[: len(grid)]
    lips_old = lips_old[lips_old < len(grid)]
    y = verts[:, 1]
    regions = {"lips": perm[lips_old], "forehead": perm[np.flatnonzero(y[: len(grid)] > 60)],
               "eye_region": perm[np.flatnonzero((y[: len(grid)] > 15) & (y[: len(grid)] < 45))],
               "nose": perm[np.flatnonzero(((verts[: len(grid), :2] - [0, 0]) ** 2).sum(1) < 15 ** 2)],
               "neck": perm[np.flatnonzero(y[: len(grid)] < -85)]}
    below = np.clip((centre[1] - verts[:, 1]) / 1.5, 0, 1) * np.exp(-((verts[:, 0] - centre[0]) / 30) ** 2)
    below[len(grid):] = 0
    lower_weight = np.empty(N_VERTICES)
    lower_weight[perm] = below
    return FlameLike(new_verts / 1000.0, faces.astype(np.int32), regions, lower_weight)


def _sequences(mesh: FlameLike, subjects, sentences, seconds: float):
    """{(subject, sentence name): (vertices (T60, 5023, 3) metres, audio int16 at 22 kHz)}, and templates."""
    rng = np.random.default_rng(0)
    templates, out = {}, {}
    for s_i, subject in enumerate(subjects):
        template = mesh.vertices * (1 + 0.03 * rng.standard_normal()) + rng.normal(0, 2e-4, mesh.vertices.shape)
        templates[subject] = template
        amplitude = 0.004 * (1 + 0.4 * (s_i % 4))  # metres of jaw drop: each subject's style
        for n in sentences:
            audio = speechlike(seconds, seed=100 * s_i + n, sr=AUDIO_RATE)
            T = int(round(seconds * 60))
            env = np.abs(audio)[: T * (len(audio) // T)].reshape(T, -1).mean(1)
            env = env / (env.max() + 1e-9)
            offset = np.zeros((T, N_VERTICES, 3))
            offset[..., 1] = -amplitude * env[:, None] * mesh.lower_weight[None]
            out[(subject, f"sentence{n:02d}")] = (template[None] + offset,
                                                  (np.clip(audio, -1, 1) * 32767).astype(np.int16))
    return out, templates


def _dump(obj, path: Path) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def write_flame_files(root: Path, mesh: FlameLike) -> tuple[Path, Path, Path]:
    """FLAME_sample.ply, head_template.obj (with texture indices, as FLAME's) and FLAME_masks.pkl."""
    import trimesh

    root.mkdir(parents=True, exist_ok=True)
    ply = root / "FLAME_sample.ply"
    trimesh.Trimesh(mesh.vertices, mesh.faces, process=False).export(ply)
    obj = root / "head_template.obj"
    lines = [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in mesh.vertices] + ["vt 0.5 0.5"]
    lines += [f"f {a + 1}/1 {b + 1}/1 {c + 1}/1" for a, b, c in mesh.faces]
    obj.write_text("\n".join(lines) + "\n")
    masks = root / "FLAME_masks.pkl"
    _dump(mesh.regions, masks)
    return ply, obj, masks


def write_released(root: Path, subjects=SUBJECTS, sentences=(1, 2, 21), seconds: float = 1.0) -> FlameLike:
    """data_verts.npy (float64, as released), raw_audio_fixed.pkl, templates.pkl, subj_seq_to_idx.pkl."""
    mesh = flame_like_mesh()
    seqs, templates = _sequences(mesh, subjects, sentences, seconds)
    root.mkdir(parents=True, exist_ok=True)
    rows, index, audio = [], {}, {}
    for (subject, sentence), (verts, pcm) in seqs.items():
        start = sum(len(r) for r in rows)
        rows.append(verts)
        # frame -> row, inserted in reverse order: readers must sort by frame number
        index.setdefault(subject, {})[sentence] = {f: start + f for f in reversed(range(len(verts)))}
        audio.setdefault(subject, {})[sentence] = {"audio": pcm, "sample_rate": AUDIO_RATE}
    np.save(root / "data_verts.npy", np.concatenate(rows).astype(np.float64))
    _dump(audio, root / "raw_audio_fixed.pkl")
    _dump(templates, root / "templates.pkl")
    _dump(index, root / "subj_seq_to_idx.pkl")
    return mesh


def write_faceformer(root: Path, subjects=SUBJECTS, sentences=(1, 2, 21), seconds: float = 1.0) -> FlameLike:
    """vertices_npy/<subject>_<sentence>.npy (T, 15069), wav/<subject>_<sentence>.wav, templates.pkl."""
    import soundfile as sf

    mesh = flame_like_mesh()
    seqs, templates = _sequences(mesh, subjects, sentences, seconds)
    (root / "vertices_npy").mkdir(parents=True, exist_ok=True)
    (root / "wav").mkdir(parents=True, exist_ok=True)
    for (subject, sentence), (verts, pcm) in seqs.items():
        np.save(root / "vertices_npy" / f"{subject}_{sentence}.npy", verts.reshape(len(verts), -1).astype(np.float32))
        sf.write(root / "wav" / f"{subject}_{sentence}.wav", pcm, AUDIO_RATE, subtype="PCM_16")
    _dump(templates, root / "templates.pkl")
    return mesh
