"""Offscreen rendering of face mesh sequences: shaded skin, two sequences side by side, error heat maps.

    with Renderer() as r:                                  # one GL context, reused for every call
        frames = r.render_frames(vertices)                 # (T, V, 3) mm -> (T, 512, 512, 3) uint8
        both = r.side_by_side(generic, personal, labels=("generic", "personalised"))
        heat = r.error_map(pred, reference)                # per-vertex L2 in mm, with a colour bar

Every `iter_*` method is a generator (one frame at a time, for long sequences); the matching method without
`iter_` returns the stacked array. Vertices follow the topology convention (x to the subject's left, y up,
z toward the camera, mm), so the camera sits on +z looking down -z with y up. The camera is fitted once to
the whole sequence's bounding box, so the face does not swim while it speaks.

OpenGL runs headless through EGL; Mesa's llvmpipe renders on the CPU fast enough for video (docs/rendering.md
has the measured frames/s).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator, Sequence

import numpy as np

from .errors import RenderError  # noqa: F401 (raised here; importable from here as before)
from .topology import MEDIAPIPE_468, Topology

EGL_HELP = ("Install the EGL and Mesa OpenGL libraries: on Debian/Ubuntu `apt-get install libegl1 libgl1-mesa-dri "
            "libgbm1` (a Hugging Face Space lists them in packages.txt).")

Color = tuple[float, float, float]


@dataclass(frozen=True)
class RenderOptions:
    width: int = 512
    height: int = 512
    samples: int = 4             # MSAA samples per pixel for smooth edges (llvmpipe supports up to 4; 0 = off)
    fill: float = 0.72           # share of the frame's height (or width) that the face's bounding box spans
    fov_deg: float = 16.0        # vertical field of view: a long lens keeps perspective distortion low
    skin: Color = (0.78, 0.58, 0.48)         # sRGB albedos
    lips: Color = (0.72, 0.43, 0.42)
    mouth: Color = (0.20, 0.07, 0.07)        # the cavity behind the inner lip contour
    eyes: Color = (0.20, 0.18, 0.18)
    background_top: Color = (0.20, 0.21, 0.24)
    background_bottom: Color = (0.07, 0.07, 0.09)
    occlusion: float = 0.3       # darkening of creases and hollows (a cheap ambient occlusion); 0 = off
    cavity_mm: tuple[float, float] = (0.2, 1.5)  # hollows (see `cavity`) start darkening at the first
                                                 # depth and are fully darkened at the second
    close_holes: bool = True     # fill the eye and mouth openings so the background doesn't show through
    mouth_depth_mm: float = 12.0
    eye_depth_mm: float = 2.0


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


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Smooth unit normals (..., V, 3): the area-weighted sum of the normals of the triangles at each vertex."""
    v = np.asarray(vertices, dtype=np.float32)
    a, b, c = v[..., faces[:, 0], :], v[..., faces[:, 1], :], v[..., faces[:, 2], :]
    face_n = np.cross(b - a, c - a)  # length = 2 x area, so big triangles count more
    n = np.zeros_like(v)
    for corner in range(3):
        np.add.at(n, (..., faces[:, corner], slice(None)), face_n)
    return n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-12)


def cavity(vertices: np.ndarray, normals: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """(V,) how far (mm) each vertex's neighbours lie in front of it along its normal: > 0 in creases and
    hollows (eye sockets, nostrils, mouth corners), where less ambient light reaches the skin."""
    depth = ((_neighbour_mean(vertices, edges) - vertices) * normals).sum(-1)
    return 0.5 * (depth + _neighbour_mean(depth[:, None], edges)[:, 0])  # smoothed: tracking noise isn't a crease


def _neighbour_mean(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    total = np.zeros_like(values)
    np.add.at(total, edges[:, 0], values[edges[:, 1]])
    np.add.at(total, edges[:, 1], values[edges[:, 0]])
    return total / np.maximum(np.bincount(edges.ravel(), minlength=len(values)), 1)[:, None]


def _edges(faces: np.ndarray) -> np.ndarray:
    e = np.sort(np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]]), axis=1)
    return np.unique(e, axis=0)


@dataclass(frozen=True)
class _Mesh:
    """The triangles to draw: the topology's, plus caps over the eye and mouth openings.

    A cap is a fan from a copy of the opening's contour to the contour's centre pushed back into the head.
    Copies (not shared vertices) keep the caps from bending the smooth normals of the lips and eyelids."""

    faces: np.ndarray            # (F', 3) into the extended vertex array: V originals, then each cap's ring + centre
    n_vertices: int              # V
    edges: np.ndarray            # (E, 2) of the topology's own triangles (not the caps)
    loops: tuple = ()            # contour vertex indices, one array per cap
    depths: tuple = ()           # mm from the contour's mean to the cap's centre, along -z
    cap_colors: tuple = ()       # sRGB albedo per cap

    @classmethod
    def build(cls, faces: np.ndarray, n_vertices: int, topology: Topology | None,
              options: RenderOptions) -> "_Mesh":
        faces = np.asarray(faces, dtype=np.int32)
        edges = _edges(faces)
        if topology is None or not options.close_holes:
            return cls(faces, n_vertices, edges)
        directed = {(int(a), int(b)) for t in faces for a, b in ((t[0], t[1]), (t[1], t[2]), (t[2], t[0]))}
        loops, fans, start = [], [], n_vertices
        for loop in (topology.lip_inner, topology.left_eye, topology.right_eye):
            loop = np.asarray(loop)
            # Wind the cap like its neighbours: it must walk each shared contour edge against the mesh.
            if (int(loop[0]), int(loop[1])) in directed:
                loop = loop[::-1]
            ring = start + np.arange(len(loop))
            fans.append(np.c_[ring, np.roll(ring, -1), np.full(len(loop), start + len(loop))])
            loops.append(loop)
            start += len(loop) + 1
        return cls(np.concatenate([faces, *fans]).astype(np.int32), n_vertices, edges, tuple(loops),
                   (options.mouth_depth_mm, options.eye_depth_mm, options.eye_depth_mm),
                   (options.mouth, options.eyes, options.eyes))

    @property
    def n_extended(self) -> int:
        return self.n_vertices + sum(len(loop) + 1 for loop in self.loops)

    def extend(self, vertices: np.ndarray) -> np.ndarray:
        """(V, 3) -> (V', 3): the vertices followed by each cap's contour copy and centre."""
        parts = [vertices]
        for loop, depth in zip(self.loops, self.depths):
            ring = vertices[loop]
            parts += [ring, ring.mean(0, keepdims=True) - [0.0, 0.0, depth]]
        return np.concatenate(parts).astype(np.float32)

    def extend_colors(self, colors: np.ndarray) -> np.ndarray:
        """(V, 3) albedo -> (V', 3): each cap in its own colour."""
        parts = [colors]
        for loop, color in zip(self.loops, self.cap_colors):
            parts.append(np.tile(np.asarray(color, dtype=np.float32), (len(loop) + 1, 1)))
        return np.concatenate(parts).astype(np.float32)


def lip_mask(vertices: np.ndarray, topology: Topology) -> np.ndarray:
    """(V,) 1.0 for vertices on or inside the outer lip contour seen from the front (x, y), else 0.0."""
    poly = vertices[topology.lip_outer, :2]
    x, y = vertices[:, 0:1], vertices[:, 1:2]
    (x0, y0), (x1, y1) = poly.T[:, None, :], np.roll(poly, -1, axis=0).T[:, None, :]
    # Even-odd ray casting to +x against every polygon edge at once.
    crosses = ((y0 > y) != (y1 > y)) & (x < x0 + (y - y0) * (x1 - x0) / np.where(y1 == y0, 1e-12, y1 - y0))
    inside = crosses.sum(1) % 2 == 1
    inside[topology.lip_outer] = True
    return inside.astype(np.float32)


# Error colour scale, from "fine" to "far off" (sRGB anchors, evenly spaced): a softened jet.
_HEAT_ANCHORS = np.array([[0.17, 0.25, 0.70], [0.25, 0.60, 0.90], [0.45, 0.82, 0.60],
                          [0.98, 0.86, 0.30], [0.95, 0.45, 0.15], [0.75, 0.08, 0.10]], dtype=np.float32)


def heat_colors(values: np.ndarray, vmax: float) -> np.ndarray:
    """Values in [0, vmax] (clipped) -> sRGB colours (..., 3) on the error colour scale."""
    t = np.clip(np.asarray(values, dtype=np.float32) / vmax, 0, 1) * (len(_HEAT_ANCHORS) - 1)
    i = np.minimum(t.astype(int), len(_HEAT_ANCHORS) - 2)
    w = (t - i)[..., None]
    return (1 - w) * _HEAT_ANCHORS[i] + w * _HEAT_ANCHORS[i + 1]


def nice_vmax(errors: np.ndarray) -> float:
    """A round colour-scale maximum (1, 2 or 5 x 10^k mm) at or above the errors' 99th percentile."""
    p = float(np.percentile(errors, 99)) if np.size(errors) else 0.0
    p = max(p, 0.1)
    exponent = np.floor(np.log10(p))
    for step in (1, 2, 5, 10):
        if step * 10 ** exponent >= p:
            return float(step * 10 ** exponent)
    return float(10 ** (exponent + 1))


_VERTEX_SHADER = """
#version 330
uniform mat4 view;
uniform mat4 projection;
in vec3 in_position;
in vec3 in_normal;
in vec3 in_color;
out vec3 v_position;
out vec3 v_normal;
out vec3 v_color;
void main() {
    vec4 p = view * vec4(in_position, 1.0);
    v_position = p.xyz;
    v_normal = mat3(view) * in_normal;
    v_color = in_color;
    gl_Position = projection * p;
}
"""

# Lighting in camera space (camera at the origin looking down -z): a warm key light from the upper left,
# a cool dim fill from the right, a rim (Fresnel) light on the silhouette, and a sky/ground ambient.
# Wrapped diffuse keeps the shading soft; all maths in linear RGB, written out as sRGB.
_FRAGMENT_SHADER = """
#version 330
in vec3 v_position;
in vec3 v_normal;
in vec3 v_color;
out vec4 f_color;

vec3 to_linear(vec3 c) { return pow(c, vec3(2.2)); }
vec3 to_srgb(vec3 c) { return pow(c, vec3(1.0 / 2.2)); }
float wrapped(vec3 n, vec3 l, float w) { return max((dot(n, l) + w) / (1.0 + w), 0.0); }

void main() {
    vec3 n = normalize(v_normal);
    float inside = gl_FrontFacing ? 0.0 : 1.0;
    if (inside > 0.5) n = -n;
    vec3 v = normalize(-v_position);
    vec3 albedo = to_linear(v_color);

    vec3 key_dir = normalize(vec3(-0.60, 0.50, 0.62));
    vec3 fill_dir = normalize(vec3(0.75, -0.10, 0.50));
    vec3 key = vec3(1.00, 0.93, 0.84) * 1.9 * wrapped(n, key_dir, 0.3);
    vec3 fill = vec3(0.72, 0.80, 1.00) * 0.38 * wrapped(n, fill_dir, 0.5);
    vec3 ambient = mix(vec3(0.10, 0.08, 0.07), vec3(0.17, 0.18, 0.22), 0.5 + 0.5 * n.y);
    vec3 color = albedo * (key + fill + ambient);

    // Skin scatters red light into the terminator: a little warmth where the key light fades.
    float terminator = smoothstep(0.0, 0.3, dot(n, key_dir) + 0.3) * (1.0 - smoothstep(0.3, 0.7, dot(n, key_dir)));
    color += albedo * vec3(0.25, 0.06, 0.03) * terminator;

    vec3 h = normalize(key_dir + v);
    float fresnel = 0.04 + 0.96 * pow(1.0 - max(dot(h, v), 0.0), 5.0);
    color += vec3(1.0, 0.96, 0.9) * 0.35 * fresnel * pow(max(dot(n, h), 0.0), 36.0) * (1.0 - inside);

    float rim = pow(1.0 - max(dot(n, v), 0.0), 3.0);
    color += vec3(0.55, 0.62, 0.75) * 0.45 * rim * (0.6 + 0.4 * n.y) * (1.0 - inside);

    color *= mix(1.0, 0.3, inside);                // the back of the mesh, seen through an opening
    color = color / (1.0 + 0.25 * color);          // soft shoulder instead of clipping highlights
    f_color = vec4(to_srgb(color), 1.0);
}
"""

# A full-screen triangle: a vertical gradient with a faint vignette, drawn before the mesh.
_BACKGROUND_SHADER = ("""
#version 330
out vec2 uv;
void main() {
    uv = vec2((gl_VertexID << 1) & 2, gl_VertexID & 2);
    gl_Position = vec4(uv * 2.0 - 1.0, 0.0, 1.0);
}
""", """
#version 330
uniform vec3 top;
uniform vec3 bottom;
in vec2 uv;
out vec4 f_color;
void main() {
    vec3 c = mix(bottom, top, uv.y);
    float vignette = 1.0 - 0.35 * dot(uv - 0.5, uv - 0.5);
    f_color = vec4(c * vignette, 1.0);
}
""")


def _create_context():
    try:
        import moderngl
    except ImportError as e:
        raise RenderError(f"moderngl is not installed ({e}): pip install -r requirements.txt") from e
    try:
        return moderngl.create_standalone_context(backend="egl")
    except Exception as e:  # moderngl/glcontext raise plain Exceptions with the EGL error text
        raise RenderError(f"Offscreen OpenGL through EGL failed to start ({e}). {EGL_HELP}") from e


class Renderer:
    """An offscreen renderer that keeps its GL context and buffers: create once, render many.

    Thread-safe: each frame is drawn under a lock, and no state is kept between frames, so generators
    from several threads (or interleaved in one) can share a renderer."""

    def __init__(self, options: RenderOptions = RenderOptions(), mesh: Topology | np.ndarray = MEDIAPIPE_468):
        topology = mesh if isinstance(mesh, Topology) else None
        faces = topology.faces if topology is not None else np.asarray(mesh, dtype=np.int32)
        n_vertices = topology.n_vertices if topology is not None else int(faces.max()) + 1
        self.options, self.topology = options, topology
        self._mesh = _Mesh.build(faces, n_vertices, topology, options)
        self._lock = threading.Lock()
        self._ctx = _create_context()
        with self._ctx:
            self._init_gl()

    def _init_gl(self) -> None:
        ctx, o = self._ctx, self.options
        self._program = ctx.program(vertex_shader=_VERTEX_SHADER, fragment_shader=_FRAGMENT_SHADER)
        self._background = ctx.program(vertex_shader=_BACKGROUND_SHADER[0], fragment_shader=_BACKGROUND_SHADER[1])
        self._background["top"].value = tuple(o.background_top)
        self._background["bottom"].value = tuple(o.background_bottom)
        self._background_vao = ctx.vertex_array(self._background, [])
        n = self._mesh.n_extended
        self._buffers = {name: ctx.buffer(reserve=n * 12, dynamic=True) for name in ("position", "normal", "color")}
        index = ctx.buffer(self._mesh.faces.astype("i4").tobytes())
        self._vao = ctx.vertex_array(
            self._program, [(self._buffers[name], "3f", f"in_{name}") for name in self._buffers], index_buffer=index)
        samples = min(o.samples, ctx.max_samples)
        size = (o.width, o.height)
        self._msaa = ctx.framebuffer(color_attachments=[ctx.renderbuffer(size, 4, samples=samples)],
                                     depth_attachment=ctx.depth_renderbuffer(size, samples=samples))
        self._resolved = ctx.framebuffer(color_attachments=[ctx.renderbuffer(size, 4)])

    # --- public API -------------------------------------------------------------------------------------
    def camera(self, *sequences: np.ndarray) -> Camera:
        """The camera that frames every vertex of the given sequences, for this renderer's frame size."""
        o = self.options
        points = np.concatenate([np.asarray(s, dtype=np.float32).reshape(-1, 3) for s in sequences])
        return Camera.fit(points, o.width / o.height, o.fov_deg, o.fill)

    def render(self, vertices: np.ndarray, camera: Camera | None = None,
               colors: np.ndarray | None = None) -> np.ndarray:
        """One mesh (V, 3) mm -> (H, W, 3) uint8. colors: (V, 3) sRGB albedo in [0, 1], default skin."""
        vertices = self._check(np.asarray(vertices)[None])[0]
        camera = camera or self.camera(vertices)
        albedo = self._skin(vertices) if colors is None else np.asarray(colors, dtype=np.float32)
        return self._draw(vertices, albedo, camera)

    def iter_frames(self, vertices: np.ndarray, camera: Camera | None = None,
                    colors: np.ndarray | None = None) -> Iterator[np.ndarray]:
        """(T, V, 3) mm -> (H, W, 3) uint8 per frame, with one camera for the whole sequence.
        colors: (V, 3) or (T, V, 3) sRGB albedo; default skin (lips tinted, found on the first frame)."""
        vertices = self._check(vertices)
        camera = camera or self.camera(vertices)
        if colors is None:
            colors = self._skin(vertices[0])
        colors = np.broadcast_to(np.asarray(colors, dtype=np.float32), vertices.shape)
        for frame, albedo in zip(vertices, colors):
            yield self._draw(frame, albedo, camera)

    def render_frames(self, vertices: np.ndarray, camera: Camera | None = None,
                      colors: np.ndarray | None = None) -> np.ndarray:
        """(T, V, 3) mm -> (T, H, W, 3) uint8."""
        return _stack(self.iter_frames(vertices, camera, colors), self.options)

    def iter_side_by_side(self, left: np.ndarray, right: np.ndarray,
                          labels: Sequence[str] | None = ("generic", "personalised")) -> Iterator[np.ndarray]:
        """Two sequences of equal length -> (H, 2W, 3) frames, one shared camera, a label over each half."""
        left, right = self._check(left), self._check(right)
        if len(left) != len(right):
            raise ValueError(f"side by side needs sequences of one length, got {len(left)} and {len(right)} frames")
        if labels and len(labels) != 2:
            raise ValueError(f"side by side takes two labels (left, right), got {list(labels)}")
        camera = self.camera(left, right)
        overlay = _label_overlay(labels, self.options) if labels else None
        for a, b in zip(self.iter_frames(left, camera), self.iter_frames(right, camera)):
            frame = np.concatenate([a, b], axis=1)
            yield overlay.apply(frame) if overlay else frame

    def side_by_side(self, left: np.ndarray, right: np.ndarray,
                     labels: Sequence[str] | None = ("generic", "personalised")) -> np.ndarray:
        return _stack(self.iter_side_by_side(left, right, labels), self.options, panels=2)

    def iter_error_map(self, vertices: np.ndarray, reference: np.ndarray,
                       vmax_mm: float | None = None) -> Iterator[np.ndarray]:
        """`vertices` coloured by their per-vertex L2 distance (mm) to `reference` ((T, V, 3) or one (V, 3)
        mesh), with a colour bar. vmax_mm: the top of the scale; None picks a round number at the 99th
        percentile of the whole sequence, so a colour means the same error in every frame."""
        vertices = self._check(vertices)
        reference = np.broadcast_to(np.asarray(reference, dtype=np.float32), vertices.shape)
        errors = np.linalg.norm(vertices - reference, axis=-1)
        vmax = float(vmax_mm) if vmax_mm else nice_vmax(errors)
        overlay = _colorbar_overlay(vmax, self.options)
        for frame in self.iter_frames(vertices, colors=heat_colors(errors, vmax)):
            yield overlay.apply(frame)

    def error_map(self, vertices: np.ndarray, reference: np.ndarray, vmax_mm: float | None = None) -> np.ndarray:
        return _stack(self.iter_error_map(vertices, reference, vmax_mm), self.options)

    @property
    def gl_renderer(self) -> str:
        """The OpenGL implementation in use, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)" for Mesa on CPU."""
        with self._lock, self._ctx:
            return self._ctx.info["GL_RENDERER"]

    def close(self) -> None:
        self._ctx.release()

    def __enter__(self) -> "Renderer":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- internals --------------------------------------------------------------------------------------
    def _check(self, vertices: np.ndarray) -> np.ndarray:
        vertices = np.asarray(vertices, dtype=np.float32)
        if vertices.ndim != 3 or vertices.shape[1:] != (self._mesh.n_vertices, 3):
            raise ValueError(f"expected vertices of shape (T, {self._mesh.n_vertices}, 3), got {vertices.shape}")
        return vertices

    def _skin(self, vertices: np.ndarray) -> np.ndarray:
        o = self.options
        colors = np.tile(np.asarray(o.skin, dtype=np.float32), (len(vertices), 1))
        if self.topology is not None:
            w = lip_mask(vertices, self.topology)[:, None]
            colors = (1 - w) * colors + w * np.asarray(o.lips, dtype=np.float32)
        return colors

    def _draw(self, vertices: np.ndarray, albedo: np.ndarray, camera: Camera) -> np.ndarray:
        positions = self._mesh.extend(vertices)
        normals = vertex_normals(positions, self._mesh.faces)
        o = self.options
        V = self._mesh.n_vertices
        lo, hi = o.cavity_mm
        hollow = np.clip((cavity(positions[:V], normals[:V], self._mesh.edges) - lo) / (hi - lo), 0, 1)
        colors = self._mesh.extend_colors(albedo * (1 - o.occlusion * hollow[:, None]))
        with self._lock, self._ctx:
            ctx = self._ctx
            for name, data in (("position", positions), ("normal", normals), ("color", colors)):
                self._buffers[name].write(np.ascontiguousarray(data, dtype="f4").tobytes())
            self._program["view"].write(camera.view.T.astype("f4").tobytes())  # GL wants column-major
            self._program["projection"].write(camera.projection.T.astype("f4").tobytes())
            self._msaa.use()
            ctx.clear(depth=1.0)
            ctx.disable(ctx.DEPTH_TEST | ctx.CULL_FACE)  # both sides drawn: openings show the mesh's back
            self._background_vao.render(vertices=3)
            ctx.enable(ctx.DEPTH_TEST)
            self._vao.render()
            ctx.copy_framebuffer(self._resolved, self._msaa)
            data = self._resolved.read(components=3, alignment=1)
        return np.frombuffer(data, np.uint8).reshape(o.height, o.width, 3)[::-1].copy()  # GL rows run bottom-up


@dataclass(frozen=True)
class _Overlay:
    """Text and legends drawn once with PIL, then alpha-blended onto every frame (only where they are)."""

    rgb: np.ndarray    # (h, w, 3) float32, the drawn box only
    alpha: np.ndarray  # (h, w, 1) float32
    box: tuple         # (row slice, column slice) of the frame that the overlay covers

    @classmethod
    def from_image(cls, image) -> "_Overlay":
        a = np.asarray(image, dtype=np.float32) / 255
        rows, cols = np.nonzero(a[..., 3])
        box = (slice(rows.min(), rows.max() + 1), slice(cols.min(), cols.max() + 1))
        a = a[box]
        return cls(255 * a[..., :3] * a[..., 3:], a[..., 3:], box)

    def apply(self, frame: np.ndarray) -> np.ndarray:
        """Blends into `frame` in place (callers pass frames they own) and returns it."""
        frame[self.box] = (frame[self.box] * (1 - self.alpha) + self.rgb + 0.5).astype(np.uint8)
        return frame


def _font(options: RenderOptions):
    from PIL import ImageFont

    return ImageFont.load_default(size=max(10, options.height // 32))  # bundled with Pillow: no system fonts


def _label_overlay(labels: Sequence[str], options: RenderOptions) -> _Overlay:
    """A caption centred at the top of each panel, on a translucent dark pill."""
    from PIL import Image, ImageDraw

    image = Image.new("RGBA", (options.width * len(labels), options.height), (0, 0, 0, 0))
    draw, font = ImageDraw.Draw(image), _font(options)
    pad = font.size // 2
    for i, text in enumerate(labels):
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        x = i * options.width + (options.width - (right - left)) // 2
        y = pad
        draw.rounded_rectangle((x - pad, y - pad // 2, x + right - left + pad, y + bottom + pad // 2),
                               radius=pad, fill=(0, 0, 0, 110))
        draw.text((x - left, y), text, font=font, fill=(235, 235, 235, 255))
    return _Overlay.from_image(image)


def _colorbar_overlay(vmax: float, options: RenderOptions) -> _Overlay:
    """A vertical colour bar at the right edge, labelled in mm."""
    from PIL import Image, ImageDraw

    w, h = options.width, options.height
    font = _font(options)
    bar_w, bar_h = max(8, w // 40), h // 2
    x1 = w - font.size
    x0, y0 = x1 - bar_w, (h - bar_h) // 2
    ramp = heat_colors(np.linspace(vmax, 0, bar_h), vmax)  # top of the bar = vmax
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[y0:y0 + bar_h, x0:x1, :3] = (ramp[:, None] * 255).astype(np.uint8)
    rgba[y0:y0 + bar_h, x0:x1, 3] = 255
    image = Image.fromarray(rgba, "RGBA")
    draw = ImageDraw.Draw(image)
    draw.rectangle((x0 - 1, y0 - 1, x1, y0 + bar_h), outline=(220, 220, 220, 255))
    for value in (0.0, vmax / 2, vmax):
        y = y0 + round((1 - value / vmax) * (bar_h - 1))
        text = f"{value:g}"
        draw.line((x0 - 5, y, x0 - 1, y), fill=(220, 220, 220, 255))
        draw.text((x0 - 8, y), text, font=font, fill=(235, 235, 235, 255), anchor="rm")
    draw.text(((x0 + x1) // 2, y0 - font.size), "mm", font=font, fill=(235, 235, 235, 255), anchor="mm")
    return _Overlay.from_image(image)


def _stack(frames: Iterator[np.ndarray], options: RenderOptions, panels: int = 1) -> np.ndarray:
    out = list(frames)
    if not out:
        return np.zeros((0, options.height, options.width * panels, 3), np.uint8)
    return np.stack(out)


@lru_cache(maxsize=4)
def shared_renderer(options: RenderOptions = RenderOptions(), mesh: Topology = MEDIAPIPE_468) -> Renderer:
    """One renderer per (options, mesh) for the whole process: a GL context takes ~1 s to start."""
    return Renderer(options, mesh)


def render_frames(vertices: np.ndarray, options: RenderOptions = RenderOptions(),
                  mesh: Topology = MEDIAPIPE_468) -> np.ndarray:
    """(T, V, 3) mm -> (T, H, W, 3) uint8 with the shared renderer."""
    return shared_renderer(options, mesh).render_frames(vertices)
