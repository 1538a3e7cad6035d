"""A procedural viseme rig: articulation tracks + a speaking style -> per-frame meshes of one face.

It works on any face of a topology with named lip contours (MediaPipe 468 here): every deformation is built
from the template's own geometry (mouth centre, corners, the inner lip contour), in millimetres, in the
topology's axes (x to the subject's left, y up, z toward the camera).

Deformations, applied in this order each frame:
  jaw       rotation of the lower face about a pivot between the ears (temporomandibular joint)
  round     lips narrow and push forward;   spread   corners pull out and back
  smile     static corner raise (style);    asymmetry  one side moves more than the other (style)
  labiodental  lower lip tucks up under the upper teeth (f, v)
  closure   upper and lower inner lip contours meet: at closure 1 each pair of facing inner-lip vertices
            coincides, so the lip distance is exactly 0 whatever the jaw did before.
"""
from __future__ import annotations

import numpy as np

from ..topology import MEDIAPIPE_468, Topology
from .speaker import SpeakerTraits
from .articulation import Articulation

_JAW_MAX_RAD = np.deg2rad(9.0)  # widest speech opening for style.jaw = 1 (about 13 mm at the lower lip)


class VisemeRig:
    def __init__(self, template: np.ndarray, topology: Topology = MEDIAPIPE_468):
        self.topology = topology
        v = np.asarray(template, dtype=np.float64)
        self._init_geometry(v)
        self.neutral = self._close_mouth(v)

    # --- geometry, computed once per face -------------------------------------------------------------
    def _init_geometry(self, v: np.ndarray) -> None:
        inner = np.asarray(self.topology.lip_inner)
        xs = v[inner, 0]
        left, right = int(np.argmax(xs)), int(np.argmin(xs))  # loop positions of the two corners
        arc1, arc2 = _arcs(len(inner), left, right)
        up, lo = (arc1, arc2) if v[inner[arc1], 1].mean() > v[inner[arc2], 1].mean() else (arc2, arc1)
        self.upper = inner[up]
        # Each upper inner-lip vertex faces the lower one nearest in x.
        lower_all = inner[lo]
        self.lower = lower_all[np.argmin(np.abs(v[self.upper, None, 0] - v[None, lower_all, 0]), axis=1)]
        self.corners = inner[[left, right]]
        self.centre = v[inner].mean(0)
        self.width = float(np.linalg.norm(v[self.corners[0]] - v[self.corners[1]]))

        # Lip line: height of the mouth opening as a function of x; above it is "upper face".
        mid = (v[self.upper] + v[self.lower]) / 2
        order = np.argsort(mid[:, 0])
        line_y = np.interp(v[:, 0], mid[order, 0], mid[order, 1])
        above = v[:, 1] - line_y  # mm above the lip line
        lips = np.asarray(self.topology.lip_vertices)
        d_inner = _nearest_distance(v, v[inner])
        d_lips = _nearest_distance(v, v[lips])
        d_corner = _nearest_distance(v, v[self.corners])

        # Closure: each vertex follows the gap of the facing pair at its x, fading with distance from the
        # inner contour (upper lip stiffer than lower, as the lower rides on the jaw).
        self._up_weight = np.where(above >= 0, np.exp(-(d_inner / 9.0) ** 2), 0.0)
        self._lo_weight = np.where(above < 0, np.exp(-(d_inner / 13.0) ** 2), 0.0)
        self._up_weight[self.upper], self._lo_weight[self.upper] = 1.0, 0.0
        self._lo_weight[self.lower], self._up_weight[self.lower] = 1.0, 0.0
        self._up_weight[self.corners] = self._lo_weight[self.corners] = 0.5
        self._up_interp = _interp_matrix(v[:, 0], v[self.upper, 0], exact=self.upper)
        self._lo_interp = _interp_matrix(v[:, 0], v[self.lower, 0], exact=self.lower)

        # Jaw: below the lip line, fully from 8 mm under it; the lower lip always, the upper lip never.
        jaw = np.clip((-above + 2.0) / 10.0, 0.0, 1.0)
        jaw = jaw * jaw * (3 - 2 * jaw)
        jaw[self.lower], jaw[self.upper] = 1.0, 0.0
        self._jaw_weight = jaw
        ends = v[[self.topology.jaw[0], self.topology.jaw[-1]]].mean(0)
        self._pivot = np.array([self.centre[0], ends[1], ends[2] - 10.0])

        dx = v[:, 0] - self.centre[0]
        self._dx = dx
        self._side = np.tanh(dx / 10.0)  # -1 subject's right ... +1 subject's left
        self._lip_weight = np.exp(-(d_lips / 8.0) ** 2)
        self._corner_weight = np.exp(-(d_corner / 12.0) ** 2)
        half = self.width / 2
        rel = np.clip(np.abs(dx) / half, 0.0, 1.5)
        # Unit displacement fields (mm at amplitude 1).
        self._round = self._lip_weight[:, None] * np.stack([-0.28 * dx, -0.6 * np.tanh(above / 6.0), np.full_like(dx, 7.0)], 1)
        self._spread = self._lip_weight[:, None] * np.stack([0.16 * dx * rel, 0.4 * rel, -2.0 * rel], 1)
        self._smile = self._corner_weight[:, None] * np.stack([3.5 * np.sign(dx), np.full_like(dx, 3.5), np.full_like(dx, -1.5)], 1)

    def _close_mouth(self, v: np.ndarray) -> np.ndarray:
        """The template with the jaw raised until the lips (almost) meet, then exactly touching: a
        tracked 'neutral' face may have the mouth slightly open, and rest opening is a style choice."""
        gap = float(np.linalg.norm(v[self.upper] - v[self.lower], axis=1).max())
        lever = float(np.linalg.norm((v[self.lower] - self._pivot)[:, 1:], axis=1).mean())
        v = self._rotate_jaw(v[None], np.array([-0.8 * gap / lever]))[0]
        return self._close(v[None], np.ones(1), 0.5)[0]

    # --- per frame ------------------------------------------------------------------------------------
    def animate(self, art: Articulation, style: SpeakerTraits) -> np.ndarray:
        """(T, V, 3) float32 meshes in mm."""
        n = len(art.jaw)
        lever = float(np.linalg.norm((self.neutral[self.lower] - self._pivot)[:, 1:], axis=1).mean())
        rest = style.rest_gap_mm / lever
        angle = rest + np.clip(art.jaw, 0.0, None) * style.jaw * _JAW_MAX_RAD
        v = self._rotate_jaw(np.repeat(self.neutral[None], n, 0), angle)
        # Asymmetric jaw: a slight drift toward the more mobile side as it opens.
        v[..., 0] += (self._jaw_weight * 1.5 * style.asymmetry)[None] * (angle / _JAW_MAX_RAD)[:, None]
        side = (1.0 + style.asymmetry * self._side)[None, :, None]
        shapes = (art.round[:, None, None] * style.lips * self._round[None] * np.array([1.0, 1.0, style.protrusion])
                  + art.spread[:, None, None] * style.lips * self._spread[None]
                  + style.smile * self._smile[None])
        v = v + side * shapes
        v = self._labiodental(v, art.labiodental)
        v = self._close(v, art.closure, style.upper_lip_share)
        return v.astype(np.float32)

    def _rotate_jaw(self, v: np.ndarray, angle: np.ndarray) -> np.ndarray:
        p = v - self._pivot
        c, s = np.cos(angle)[:, None], np.sin(angle)[:, None]
        # Opening (angle > 0) turns the chin down and back about the x axis.
        y = p[..., 1] * c - p[..., 2] * s
        z = p[..., 1] * s + p[..., 2] * c
        moved = np.stack([p[..., 0], y, z], -1) + self._pivot
        w = self._jaw_weight[None, :, None]
        return v + w * (moved - v)

    def _labiodental(self, v: np.ndarray, amount: np.ndarray) -> np.ndarray:
        # Lower lip up to just under and behind the upper lip (the upper teeth); upper lip lifts slightly.
        target = v[:, self.upper] + np.array([0.0, -2.0, -2.5])
        pull = np.einsum("vp,tpc->tvc", self._lo_interp, target - v[:, self.lower]) * self._lo_weight[None, :, None]
        lift = np.array([0.0, 0.8, 0.5]) * self._up_weight[None, :, None]
        return v + amount[:, None, None] * (pull + lift)

    def _close(self, v: np.ndarray, amount: np.ndarray, upper_share: float) -> np.ndarray:
        gap = v[:, self.upper] - v[:, self.lower]  # (T, P, 3)
        up = np.einsum("vp,tpc->tvc", self._up_interp, gap) * self._up_weight[None, :, None]
        lo = np.einsum("vp,tpc->tvc", self._lo_interp, gap) * self._lo_weight[None, :, None]
        a = amount[:, None, None]
        return v - a * upper_share * up + a * (1.0 - upper_share) * lo


def _arcs(n: int, i: int, j: int) -> tuple[np.ndarray, np.ndarray]:
    """The two open arcs of a closed loop of n points between positions i and j (endpoints excluded)."""
    a = [(i + k) % n for k in range(1, (j - i) % n)]
    b = [(j + k) % n for k in range(1, (i - j) % n)]
    return np.array(a), np.array(b)


def _nearest_distance(points: np.ndarray, targets: np.ndarray) -> np.ndarray:
    return np.linalg.norm(points[:, None] - targets[None], axis=-1).min(1)


def _interp_matrix(x: np.ndarray, xp: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """(V, P) weights of linear interpolation in x between the points xp (held constant past the ends);
    the vertices `exact` (which define xp) take exactly their own point."""
    order = np.argsort(xp)
    m = np.stack([np.interp(x, xp[order], (order == j).astype(float)) for j in range(len(xp))], 1)
    m[exact] = 0.0
    m[exact, np.arange(len(exact))] = 1.0
    return m
