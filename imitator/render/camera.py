"""The pinhole camera that frames a whole sequence once, so the face does not swim while it speaks."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Camera:
    """A pinhole camera on +z looking down -z (y up), fitted to a bounding box."""

    view: np.ndarray        # (4, 4) world -> camera
    projection: np.ndarray  # (4, 4) camera -> clip

    @classmethod
    def fit(cls, vertices: np.ndarray, aspect: float, fov_deg: float, fill: float) -> "Camera":
        """Frame every point of `vertices` (..., 3): the box spans `fill` of the frame's height or width."""
        points = np.asarray(vertices, dtype=np.float64).reshape(-1, 3)
        lo, hi = points.min(0), points.max(0)
        centre, size = (lo + hi) / 2, hi - lo
        tan_half = np.tan(np.deg2rad(fov_deg) / 2)
        half_height = max(size[1], size[0] / aspect) / 2
        distance = half_height / (fill * tan_half)  # from the box centre: the face's widest part is near it
        eye = centre + [0.0, 0.0, distance]
        view = np.eye(4)
        view[:3, 3] = -eye
        near = max(distance - size[2], 1.0)
        far = distance + size[2] + 1.0
        f = 1.0 / tan_half
        projection = np.array([[f / aspect, 0, 0, 0], [0, f, 0, 0],
                               [0, 0, (far + near) / (near - far), 2 * far * near / (near - far)],
                               [0, 0, -1, 0]])
        return cls(view=view, projection=projection)

    def project(self, points: np.ndarray, width: int, height: int) -> np.ndarray:
        """(N, 3) world points -> (N, 2) pixel coordinates (x right, y down), as in rendered images."""
        h = np.c_[points, np.ones(len(points))] @ (self.projection @ self.view).T
        ndc = h[:, :2] / h[:, 3:]
        return np.c_[(ndc[:, 0] + 1) * width / 2, (1 - ndc[:, 1]) * height / 2]

    def project_in_front(self, points: np.ndarray, width: int, height: int) -> np.ndarray | None:
        """`project`, or None when a point lies behind the camera (its projection would mean nothing)."""
        points = np.asarray(points, np.float64).reshape(-1, 3)
        w = np.c_[points, np.ones(len(points))] @ (self.projection @ self.view)[3]
        return None if (w <= 1e-6).any() else self.project(points, width, height)
