"""Alignment maths on landmark clouds: similarity Procrustes, head-pose removal, the depth scale, the
neutral template and the canonical (upright, frontal) frame."""
from __future__ import annotations

import numpy as np

from ..topology import MEDIAPIPE_468, lip_distance

IRIS_CENTRES = (468, 473)  # refined landmarks: subject's right and left iris centre
NOSE_BRIDGE = 168


def similarity_transforms(src: np.ndarray, dst: np.ndarray):
    """Umeyama: per frame n, the scale s, rotation R and shift t minimising |s R src[n] + t - dst|^2.

    src: (N, K, 3), dst: (K, 3) -> s (N,), R (N, 3, 3), t (N, 3)."""
    mu_src, mu_dst = src.mean(1, keepdims=True), dst.mean(0)
    a, b = src - mu_src, dst - mu_dst
    u, sv, vt = np.linalg.svd(np.einsum("ki,nkj->nij", b, a) / src.shape[1])
    d = np.sign(np.linalg.det(u @ vt))
    flip = np.stack([np.ones_like(d), np.ones_like(d), d], -1)  # never a reflection
    rotation = (u * flip[:, None, :]) @ vt
    scale = (sv * flip).sum(-1) / (a ** 2).sum((1, 2)) * src.shape[1]
    shift = mu_dst - scale[:, None] * np.einsum("nij,nj->ni", rotation, mu_src[:, 0])
    return scale, rotation, shift


def stabilise(points: np.ndarray, rigid: np.ndarray, iterations: int = 3) -> np.ndarray:
    """Remove head pose and distance to the camera: align every frame's rigid vertices to their median shape.

    points: (N, P, 3) -> same shape. The reference is refined by generalised Procrustes (align all to the
    reference, take the per-vertex median as the new reference), so no single frame's noise sets it."""
    reference = points[len(points) // 2, rigid]
    for _ in range(iterations):
        scale, rotation, shift = similarity_transforms(points[:, rigid], reference)
        aligned = scale[:, None, None] * np.einsum("nij,npj->npi", rotation, points) + shift[:, None]
        reference = np.median(aligned[:, rigid], axis=0)
    return aligned


def estimate_depth_scale(points: np.ndarray, candidates=np.arange(0.5, 1.625, 0.05), max_frames: int = 60) -> float:
    """The factor on MediaPipe's z that makes the rigid vertices most rigid across head rotations.

    With the wrong depth scale a turned head is not a rotated copy of a frontal one, so the Procrustes
    residual of the rigid set grows. The residual is measured in x and y only: z is the coordinate being
    scaled, and its own noise would favour small factors. A curve too flat to show a minimum (a head that
    hardly turns) is no evidence, and the factor stays 1."""
    pick = np.linspace(0, len(points) - 1, min(len(points), max_frames)).astype(int)
    rigid = points[pick][:, MEDIAPIPE_468.rigid].astype(np.float64)
    residual = []
    for c in candidates:
        aligned = stabilise(rigid * np.array([1.0, 1.0, c]), np.arange(rigid.shape[1]), iterations=2)
        residual.append(np.sqrt(np.mean((aligned - np.median(aligned, 0))[..., :2] ** 2)))
    residual = np.asarray(residual)
    best = int(np.argmin(residual))
    around = residual[np.abs(candidates - candidates[best]).round(3) == 0.3]
    return float(candidates[best]) if len(around) and around.min() > 1.02 * residual[best] else 1.0


def neutral_template(vertices: np.ndarray, fraction: float) -> np.ndarray:
    """The per-vertex median of the frames whose mouth is least open: the person's resting face."""
    distance = lip_distance(vertices)
    keep = np.argsort(distance)[:max(1, int(round(fraction * len(vertices))))]
    return np.median(vertices[keep], axis=0)


def canonical_frame(template: np.ndarray):
    """Rotation (rows = new axes) and origin that put the template upright, frontal, nose bridge at 0."""
    x = template[263] - template[33]            # right eye outer corner -> left eye outer corner
    up = template[10] - template[152]           # chin -> top of forehead
    x /= np.linalg.norm(x)
    y = up - (up @ x) * x
    y /= np.linalg.norm(y)
    return np.stack([x, y, np.cross(x, y)]), template[NOSE_BRIDGE].copy()
