"""The face mesh dressed as an avatar: eyes in the eye openings, a mouth with an inside and teeth, and texture
coordinates. The renderer and the exports (GLB, OBJ) draw the same avatar.

    avatar = Avatar.build(MEDIAPIPE_468)
    rest = avatar.rest_face(vertices)                 # (V, 3): the frame with the mouth most closed
    dressed = avatar.extend(vertices, rest)           # (T, V', 3): the face's vertices, then the parts'

The parts are made from the face's own vertices in every frame, so they follow it:
- eyes: a fan over each eye opening from a copy of its contour to a centre bulging a little forward, textured
  from the face texture's eye region (where the iris is);
- mouth: a tube from a copy of the inner lip contour back into the head, closed by a fan: a dark oral cavity
  whose opening is exactly the lips' opening, so it vanishes when the lips touch;
- teeth: an upper and a lower curved row; the upper moves with the skull, the lower with the chin. Both are
  kept behind the inner lips every frame (see `AvatarOptions.teeth_gap_mm`), so they never poke through.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .topology import Topology

Color = tuple[float, float, float]


@dataclass(frozen=True)
class AvatarOptions:
    eyes: bool = True
    mouth: bool = True
    teeth: bool = True
    eye_bulge_mm: float = 0.6        # the eye's centre sits this far in front of its contour (a round eyeball)
    mouth_depth_mm: float = 18.0     # how far the oral cavity reaches back from the lips
    teeth_gap_mm: float = 1.5        # the teeth's front stays at least this far behind the inner lips
    mouth_color: Color = (0.20, 0.07, 0.07)   # sRGB, at the lips; deeper in, `mouth_back_color`
    mouth_back_color: Color = (0.08, 0.03, 0.03)
    teeth_color: Color = (0.88, 0.85, 0.78)   # a little darker than white: they sit in the mouth's shadow
    teeth_root_color: Color = (0.55, 0.48, 0.43)
    teeth_gap_color: Color = (0.62, 0.57, 0.51)  # between two teeth


_TOOTH_COLUMNS = 25   # 8 teeth across: every third column is the gap between two teeth


@dataclass(frozen=True, eq=False)
class Avatar:
    """Triangles, texture coordinates and base colours of the face plus its parts (V' >= V vertices)."""

    topology: Topology | None
    options: AvatarOptions
    faces: np.ndarray        # (F', 3) int32 into the extended vertices
    face_edges: np.ndarray   # (E, 2) edges of the face's own triangles (for creases)
    uv: np.ndarray           # (V', 2) float32 texture coordinates (0 for untextured parts)
    colors: np.ndarray       # (V', 4) float32: sRGB colour and texture weight (1 = from the texture,
                             # 0 = flat colour, -1 = flat colour inside the mouth: no rim light or sheen)
    parts: dict              # part name -> slice of the extended vertices
    n_vertices: int          # V

    @classmethod
    def build(cls, topology: Topology | None, faces: np.ndarray | None = None,
              options: AvatarOptions = AvatarOptions()) -> "Avatar":
        """The avatar of `topology`; with topology None, the bare mesh `faces` (no parts, no texture)."""
        from .render.geometry import mesh_edges

        if topology is None:
            faces = np.asarray(faces, np.int32)
            n = int(faces.max()) + 1
            from .texture import SKIN

            colors = np.tile(np.float32([*SKIN, 0]), (n, 1))  # no layout to texture: plain skin
            return cls(None, options, faces, mesh_edges(faces), np.zeros((n, 2), np.float32), colors, {}, n)
        from .texture import LIPS, SKIN, face_uv

        V = topology.n_vertices
        builder = _Builder(topology, V)
        if V == 468:
            builder.add("face", np.asarray(face_uv()), np.tile(np.float32([1, 1, 1, 1]), (V, 1)), topology.faces)
        else:  # no texture layout for this topology (e.g. FLAME): plain skin, its lip set tinted
            colors = np.tile(np.float32([*SKIN, 0]), (V, 1))
            colors[topology.lip_vertices, :3] = LIPS
            builder.add("face", np.zeros((V, 2), np.float32), colors, topology.faces)
        # Parts need the contours they are built on; a topology from a region file (FLAME) has none.
        eyes, mouth = _loop(topology.right_eye) and _loop(topology.left_eye), _loop(topology.lip_inner)
        if options.eyes and eyes:
            builder.eyes()
        if options.mouth and mouth:
            builder.mouth(options)
        if options.teeth and mouth and len(topology.jaw) >= 3:
            builder.teeth(options)
        return cls(topology, options, np.concatenate(builder.faces).astype(np.int32), mesh_edges(topology.faces),
                   np.concatenate(builder.uv).astype(np.float32), np.concatenate(builder.colors).astype(np.float32),
                   builder.parts, V)

    @property
    def n_extended(self) -> int:
        return len(self.uv)

    def rest_face(self, vertices: np.ndarray) -> np.ndarray:
        """(T, V, 3) -> (V, 3): the frame whose mouth is most closed; the teeth are sized and placed on it."""
        vertices = np.asarray(vertices, np.float32)
        if vertices.ndim == 2 or self.topology is None:
            return vertices.reshape(-1, *vertices.shape[-2:])[0]
        from .topology import lip_distance

        return vertices[int(np.argmin(lip_distance(vertices, self.topology)))]

    def extend(self, vertices: np.ndarray, rest: np.ndarray | None = None) -> np.ndarray:
        """(..., V, 3) -> (..., V', 3): the face's vertices followed by each part's."""
        vertices = np.asarray(vertices, np.float32)
        if self.topology is None:
            return vertices
        rest = self.rest_face(vertices) if rest is None else np.asarray(rest, np.float32)
        parts = [vertices]
        t = self.topology
        if "eyes" in self.parts:
            for loop in (t.right_eye, t.left_eye):
                ring = vertices[..., loop, :]
                parts += [ring, ring.mean(-2, keepdims=True) + [0.0, 0.0, self.options.eye_bulge_mm]]
        if "mouth" in self.parts:
            ring = vertices[..., t.lip_inner, :]
            centre = ring.mean(-2, keepdims=True)
            back = np.float32([0.0, 0.0, self.options.mouth_depth_mm])
            parts += [ring, centre + 0.75 * (ring - centre) - 0.6 * back, centre - back]
        if "teeth" in self.parts:
            parts += list(_teeth(vertices, rest, t, self.options))
        return np.concatenate(parts, axis=-2).astype(np.float32)


def _loop(contour: np.ndarray) -> bool:
    return len(contour) >= 3


class _Builder:
    """Collects the parts' vertices (uv, colour), triangles and slices, in the order `Avatar.extend` emits."""

    def __init__(self, topology: Topology, start: int):
        self.t, self.start = topology, 0
        self.faces, self.uv, self.colors, self.parts = [], [], [], {}
        self.directed = {(int(a), int(b)) for f in topology.faces for a, b in ((f[0], f[1]), (f[1], f[2]), (f[2], f[0]))}

    def add(self, name: str, uv: np.ndarray, colors: np.ndarray, faces: np.ndarray) -> None:
        first = self.start
        self.faces.append(np.asarray(faces) + (first if name != "face" else 0))
        self.uv.append(np.asarray(uv, np.float32))
        self.colors.append(np.asarray(colors, np.float32))
        self.start += len(uv)
        previous = self.parts.get(name)
        self.parts[name] = slice(previous.start if previous else first, self.start)

    def _wound(self, loop: np.ndarray) -> tuple[np.ndarray, bool]:
        """Whether a cap over `loop` must run against the loop's order to face the camera like its neighbours
        (it must walk each shared contour edge opposite to the mesh)."""
        return loop, (int(loop[0]), int(loop[1])) in self.directed

    def eyes(self) -> None:
        from .texture import face_uv

        uv = np.asarray(face_uv())
        for loop in (self.t.right_eye, self.t.left_eye):
            n = len(loop)
            _, reverse = self._wound(loop)
            ring = np.arange(n)
            fan = np.c_[ring, np.roll(ring, -1), np.full(n, n)]
            self.add("eyes", np.r_[uv[loop], uv[loop].mean(0, keepdims=True)], np.tile(np.float32([1, 1, 1, 1]), (n + 1, 1)),
                     fan[:, ::-1] if reverse else fan)

    def mouth(self, o: AvatarOptions) -> None:
        loop = self.t.lip_inner
        n = len(loop)
        _, reverse = self._wound(loop)
        ring, inner, centre = np.arange(n), n + np.arange(n), 2 * n
        tube = np.r_[np.c_[ring, np.roll(ring, -1), np.roll(inner, -1)], np.c_[ring, np.roll(inner, -1), inner]]
        fan = np.c_[inner, np.roll(inner, -1), np.full(n, centre)]
        faces = np.r_[tube, fan]
        colors = np.r_[np.tile([*o.mouth_color, -1], (n, 1)), np.tile([*o.mouth_back_color, -1], (n + 1, 1))]
        self.add("mouth", np.zeros((2 * n + 1, 2)), colors, faces[:, ::-1] if reverse else faces)

    def teeth(self, o: AvatarOptions) -> None:
        k = _TOOTH_COLUMNS
        gap = (np.arange(k) % 3 == 0)[:, None]
        edge = np.where(gap, [*o.teeth_gap_color, -1], [*o.teeth_color, -1])
        root = np.tile([*o.teeth_root_color, -1], (k, 1))
        # Rows: edge (the biting edge), then root. Column c runs along x; quads face +z.
        c = np.arange(k - 1)
        for lower in (False, True):
            bottom, top = (np.arange(k), k + np.arange(k)) if not lower else (k + np.arange(k), np.arange(k))
            faces = np.r_[np.c_[bottom[c], bottom[c + 1], top[c + 1]], np.c_[bottom[c], top[c + 1], top[c]]]
            self.add("teeth", np.zeros((2 * k, 2)), np.r_[edge, root], faces)


def _teeth(vertices: np.ndarray, rest: np.ndarray, t: Topology, o: AvatarOptions) -> tuple[np.ndarray, ...]:
    """The upper and lower teeth rows for each frame: (..., 2K, 3) each, edge row then root row."""
    k = _TOOTH_COLUMNS
    corners = rest[t.lip_inner]
    width = max(float(np.ptp(corners[:, 0])), 1e-6)  # a degenerate face (all zeros) gets flat rows, not NaN
    upper_mid, lower_mid = rest[t.upper_lip_mid].mean(0), rest[t.lower_lip_mid].mean(0)
    x = np.linspace(-0.5, 0.5, k) * 0.95 * width + corners[:, 0].mean()
    arch = 9.0 * ((x - x.mean()) / (0.5 * width)) ** 2       # the rows curve back toward the molars
    front = min(upper_mid[2], lower_mid[2]) - o.teeth_gap_mm - 2.0
    edge_y = upper_mid[1] - 0.5
    upper = np.stack([np.r_[x, x], np.r_[np.full(k, edge_y), np.full(k, edge_y + 9.0)],
                      np.r_[front - arch, front - arch - 1.5]], -1)
    lower = np.stack([np.r_[x, x], np.r_[np.full(k, edge_y + 2.0), np.full(k, edge_y - 7.0)],
                      np.r_[front - 1.5 - arch, front - 2.5 - arch]], -1)
    chin = t.jaw[len(t.jaw) // 2 - 1: len(t.jaw) // 2 + 2]
    skull = vertices[..., t.rigid, :].mean(-2) - rest[t.rigid].mean(0)
    jaw = skull + 0.8 * (vertices[..., chin, :].mean(-2) - rest[chin].mean(0) - skull)  # teeth sit nearer the hinge
    upper = upper + skull[..., None, :]
    lower = lower + jaw[..., None, :]
    # Never in front of the inner lips: push each row back as far as it would poke out.
    for row, lips in ((upper, t.upper_lip_mid), (lower, t.lower_lip_mid)):
        limit = vertices[..., lips, 2].min(-1) - o.teeth_gap_mm
        excess = np.maximum(row[..., :, 2].max(-1) - limit, 0.0)
        row[..., :, 2] -= excess[..., None]
    return upper, lower
