"""The offscreen renderer: one GL context, reused for every frame of every call (see the package docstring)."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Iterator, Sequence

import numpy as np

from ..avatar import Avatar, AvatarOptions
from ..errors import RenderError
from ..topology import MEDIAPIPE_468, Topology
from .atlas import Rect, Tile, atlas_size, pack
from .camera import Camera
from .colormap import heat_colors, nice_vmax
from .crop import Crop, fit_crop
from .edges import Edges, edge_bands, quad_vertices
from .geometry import cavity, vertex_normals
from .overlays import colorbar_overlay, label_overlay
from .redraw import Shown, moved_box

EGL_HELP = ("Install the EGL and Mesa OpenGL libraries: on Debian/Ubuntu `apt-get install libegl1 libgl1-mesa-dri "
            "libgbm1` (a Hugging Face Space lists them in packages.txt).")

Color = tuple[float, float, float]
CHUNK = 32  # frames whose geometry is computed in one go
ANTIALIAS = ("fxaa", "fxaa-full", "msaa", "none")
# Redrawing only what moved pays when little moves (a rig that moves the jaw and lips). A model that moves the
# whole face (the bundled one, trained on real faces: 96 % of its vertices move every frame) gets boxes of
# 90 % of the crop, and then finding them cost more than the 10 % of pixels they saved. So once GIVE_UP_AFTER
# frames in a row needed more than PAYS_BELOW of the crop, the rest of the sequence is drawn whole.
PAYS_BELOW = 0.75
GIVE_UP_AFTER = 8
FXAA_REACH = 3  # pixels an FXAA output reads around itself (shaders/fxaa.frag: SPAN_MAX / 2, plus bilinear taps)


@dataclass(frozen=True)
class RenderOptions:
    width: int = 512
    height: int = 512
    antialias: str = "fxaa"      # smooth edges: "fxaa" (a post pass at the edges that can be jagged,
                                 # render/edges.py), "fxaa-full" (the same pass over every pixel: 0.05 s more
                                 # per 5 s request), "msaa" (`samples` per pixel: the reference look), or "none"
    samples: int = 4             # MSAA samples per pixel with antialias="msaa" (llvmpipe supports up to 4)
    fill: float = 0.72           # share of the frame's height (or width) that the face's bounding box spans
    fov_deg: float = 16.0        # vertical field of view: a long lens keeps perspective distortion low
    background_top: Color = (0.20, 0.21, 0.24)
    background_bottom: Color = (0.07, 0.07, 0.09)
    occlusion: float = 0.3       # darkening of creases and hollows (a cheap ambient occlusion); 0 = off
    cavity_mm: tuple[float, float] = (0.2, 1.5)  # hollows (see `cavity`) start darkening at the first
                                                 # depth and are fully darkened at the second
    texture_flatness: float = 0.5  # 0: textures get the full studio lighting; 1: flat light (the photo's own)
    avatar: AvatarOptions = field(default_factory=AvatarOptions)  # eyes, mouth inside, teeth
    crop: bool = True            # draw only the box the face can touch (same pixels, about half the work)
    redraw_moved: bool = True    # per frame, redraw only around what moved since it was drawn (render.redraw)
    batch: int = 8               # frames drawn per trip through the GL pipeline (render.atlas): fewer
                                 # hand-offs to llvmpipe's threads and waits for them

    def __post_init__(self) -> None:
        if self.antialias not in ANTIALIAS:
            raise ValueError(f"antialias is one of {ANTIALIAS}, got {self.antialias!r}")
        if self.batch < 1:
            raise ValueError(f"batch is at least 1 frame, got {self.batch}")


def _shader(name: str) -> str:
    return (resources.files(__package__) / "shaders" / name).read_text()


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

    Thread-safe: each batch of frames (RenderOptions.batch) is drawn under a lock, and no state is kept
    between batches (the texture is uploaded again whenever a batch asks for another one), so generators from
    several threads (or interleaved in one) can share a renderer."""

    def __init__(self, options: RenderOptions = RenderOptions(), mesh: Topology | np.ndarray = MEDIAPIPE_468):
        topology = mesh if isinstance(mesh, Topology) else None
        self.options, self.topology = options, topology
        self.avatar = Avatar.build(topology, None if topology else mesh, options.avatar)
        self._lock = threading.Lock()
        self._texture_source: np.ndarray | None = None
        self._ctx = _create_context()
        with self._ctx:
            self._init_gl()

    def _init_gl(self) -> None:
        ctx, o = self._ctx, self.options
        self._program = ctx.program(vertex_shader=_shader("face.vert"), fragment_shader=_shader("face.frag"))
        self._program["texture_flatness"].value = float(o.texture_flatness)
        self._background = ctx.program(vertex_shader=_shader("background.vert"),
                                       fragment_shader=_shader("background.frag"))
        self._background["top"].value = tuple(o.background_top)
        self._background["bottom"].value = tuple(o.background_bottom)
        self._background_vao = ctx.vertex_array(self._background, [])
        n = self.avatar.n_extended
        uv = ctx.buffer(self.avatar.uv.astype("f4").tobytes())
        index = ctx.buffer(self.avatar.faces.astype("i4").tobytes())
        # Every frame of a batch has its own buffers: rewriting one buffer between draws of a batch would
        # make llvmpipe wait for the draws that read it.
        self._buffers = [{name: ctx.buffer(reserve=n * 4 * width, dynamic=True)
                          for name, width in (("position", 3), ("normal", 3), ("color", 4))} for _ in range(o.batch)]
        self._vaos = [ctx.vertex_array(self._program, [(b["position"], "3f", "in_position"), (b["normal"], "3f", "in_normal"),
                                                       (b["color"], "4f", "in_color"), (uv, "2f", "in_uv")],
                                       index_buffer=index) for b in self._buffers]
        self._samples = min(o.samples, ctx.max_samples) if o.antialias == "msaa" else 0
        self._fxaa = o.antialias in ("fxaa", "fxaa-full")
        self._fxaa_everywhere = o.antialias == "fxaa-full"
        self._posts: dict[tuple, tuple] = {}  # (smooth, yuv, bands) -> a post pass's program and vertices, see _post
        # The mouth's box is the opening's: what shows of the teeth shows through it. (A box of their own
        # would make a picture with hidden teeth differ from one without teeth, FXAA having run elsewhere.)
        t = self.topology
        loops = (t.lip_inner, t.right_eye, t.left_eye) if t is not None else ()
        self._edges = Edges.of(t.faces if t is not None else self.avatar.faces,  # where FXAA runs (render/edges.py)
                               tuple(loop for loop in loops if len(loop) >= 3))
        self._band_buffer = None
        self._reach = FXAA_REACH if self._fxaa else 0  # pixels of a drawn box that depend on pixels around it
        self._targets: dict[tuple[int, int], tuple] = {}  # (w, h) -> framebuffers, see _target
        self._texture = None
        self._backdrops: dict[bool, np.ndarray] = {}  # the full frame's background (RGB, YUV), see _empty_frame

    # --- public API -------------------------------------------------------------------------------------
    def camera(self, *sequences: np.ndarray) -> Camera:
        """The camera that frames every vertex of the given sequences, for this renderer's frame size."""
        o = self.options
        points = np.concatenate([np.asarray(s, dtype=np.float32).reshape(-1, 3) for s in sequences])
        return Camera.fit(points, o.width / o.height, o.fov_deg, o.fill)

    def render(self, vertices: np.ndarray, camera: Camera | None = None, colors: np.ndarray | None = None,
               texture: np.ndarray | None = None) -> np.ndarray:
        """One mesh (V, 3) mm -> (H, W, 3) uint8. colors: (V, 3) sRGB albedo in [0, 1] instead of the texture;
        texture: an (S, S, 3) uint8 face texture (imitator.texture), default the neutral one."""
        return next(self.iter_frames(np.asarray(vertices)[None], camera, colors, texture))

    def iter_frames(self, vertices: np.ndarray, camera: Camera | None = None, colors: np.ndarray | None = None,
                    texture: np.ndarray | None = None) -> Iterator[np.ndarray]:
        """(T, V, 3) mm -> (H, W, 3) uint8 per frame, with one camera for the whole sequence.
        colors: (V, 3) or (T, V, 3) sRGB albedo instead of the texture; texture: as in `render`."""
        yield from self._iter(vertices, camera, colors, texture, yuv=False)

    def iter_frames_yuv420(self, vertices: np.ndarray, camera: Camera | None = None,
                           texture: np.ndarray | None = None) -> Iterator[np.ndarray]:
        """The frames of `iter_frames` as the video encoder takes them: planar YUV 4:2:0 (BT.601, limited
        range), one (H * 3 / 2, W) uint8 array per frame (Y, then U, then V; `imitator.video.write_mp4`
        with pixel_format="yuv420p"). Converted on the GPU side, and only where the frame was redrawn.
        The frame's sides must be even."""
        o = self.options
        if o.width % 2 or o.height % 2:
            raise ValueError(f"YUV 4:2:0 frames need even sides, got {o.width}x{o.height}")
        yield from self._iter(vertices, camera, None, texture, yuv=True)

    def _iter(self, vertices: np.ndarray, camera: Camera | None, colors: np.ndarray | None,
              texture: np.ndarray | None, yuv: bool) -> Iterator[np.ndarray]:
        vertices = self._check(vertices)
        camera = camera or self.camera(vertices)
        texture = self._texture_image(texture)
        rest = self.avatar.rest_face(vertices)
        crop = self._crop(vertices, rest, camera)
        if colors is not None:
            colors = np.broadcast_to(np.asarray(colors, dtype=np.float32), vertices.shape)
        meshes = self._meshes(vertices, rest, colors)
        whole = (0, 0, crop.width, crop.height)
        plan = self._moved_boxes(meshes, camera, crop, yuv) if self.options.redraw_moved else (
            (mesh, whole) for mesh in meshes)
        frame = self._frame_yuv420 if yuv else self._frame
        image = np.empty((crop.height, crop.width, 3), np.uint8)  # the crop's pixels, updated in place
        for batch in _batches(plan, self.options.batch):
            for (_, box), pixels in zip(batch, self._draw(batch, camera, texture, crop, yuv)):
                if box is not None:
                    x, y, w, h = box
                    image[y:y + h, x:x + w] = pixels
                yield frame(image, crop)

    def render_frames(self, vertices: np.ndarray, camera: Camera | None = None, colors: np.ndarray | None = None,
                      texture: np.ndarray | None = None) -> np.ndarray:
        """(T, V, 3) mm -> (T, H, W, 3) uint8."""
        return _stack(self.iter_frames(vertices, camera, colors, texture), self.options)

    def iter_side_by_side(self, left: np.ndarray, right: np.ndarray,
                          labels: Sequence[str] | None = ("generic", "personalised"),
                          texture: np.ndarray | None = None) -> Iterator[np.ndarray]:
        """Two sequences of equal length -> (H, 2W, 3) frames, one shared camera, a label over each half."""
        left, right = self._check(left), self._check(right)
        if len(left) != len(right):
            raise ValueError(f"side by side needs sequences of one length, got {len(left)} and {len(right)} frames")
        if labels and len(labels) != 2:
            raise ValueError(f"side by side takes two labels (left, right), got {list(labels)}")
        camera = self.camera(left, right)
        o = self.options
        overlay = label_overlay(labels, o.width, o.height) if labels else None
        for a, b in zip(self.iter_frames(left, camera, texture=texture), self.iter_frames(right, camera, texture=texture)):
            frame = np.concatenate([a, b], axis=1)
            yield overlay.apply(frame) if overlay else frame

    def side_by_side(self, left: np.ndarray, right: np.ndarray,
                     labels: Sequence[str] | None = ("generic", "personalised"),
                     texture: np.ndarray | None = None) -> np.ndarray:
        return _stack(self.iter_side_by_side(left, right, labels, texture), self.options, panels=2)

    def iter_error_map(self, vertices: np.ndarray, reference: np.ndarray,
                       vmax_mm: float | None = None) -> Iterator[np.ndarray]:
        """`vertices` coloured by their per-vertex L2 distance (mm) to `reference` ((T, V, 3) or one (V, 3)
        mesh), with a colour bar. vmax_mm: the top of the scale; None picks a round number at the 99th
        percentile of the whole sequence, so a colour means the same error in every frame."""
        vertices = self._check(vertices)
        reference = np.broadcast_to(np.asarray(reference, dtype=np.float32), vertices.shape)
        errors = np.linalg.norm(vertices - reference, axis=-1)
        vmax = float(vmax_mm) if vmax_mm else nice_vmax(errors)
        overlay = colorbar_overlay(vmax, self.options.width, self.options.height)
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
        if vertices.ndim != 3 or vertices.shape[1:] != (self.avatar.n_vertices, 3):
            raise ValueError(f"expected vertices of shape (T, {self.avatar.n_vertices}, 3), got {vertices.shape}")
        return vertices

    def _texture_image(self, texture: np.ndarray | None) -> np.ndarray:
        if texture is None:
            from ..texture import neutral_texture

            return neutral_texture()
        texture = np.asarray(texture)
        if texture.dtype != np.uint8 or texture.ndim != 3 or texture.shape[2] != 3:
            raise ValueError(f"a texture is an (H, W, 3) uint8 image, got {texture.shape} {texture.dtype}")
        return texture

    def _upload(self, texture: np.ndarray) -> None:
        """Make `texture` the bound texture (under the lock); uploads only when it changed."""
        if texture is self._texture_source:
            return
        ctx = self._ctx
        h, w = texture.shape[:2]
        if self._texture is None or self._texture.size != (w, h):
            if self._texture is not None:
                self._texture.release()
            self._texture = ctx.texture((w, h), 3)
            self._texture.filter = (ctx.LINEAR, ctx.LINEAR)  # no mipmaps: the face is drawn near the texture's size
            self._texture.repeat_x = self._texture.repeat_y = False
        # Rows go up in the order of the image (top first): uv (0, 0) is the top-left, as in glTF.
        self._texture.write(_HALF_LINEAR[texture].tobytes())  # face.frag squares it: sRGB 2.2 -> linear
        self._texture.use(0)
        self._texture_source = texture

    def _crop(self, vertices: np.ndarray, rest: np.ndarray, camera: Camera) -> Crop:
        """The box of the frame that the whole sequence's avatar (eyes and teeth too) can touch."""
        o = self.options
        if not o.crop:
            return Crop.full(o.width, o.height)
        step = 8 * CHUNK  # a few MB of extended vertices at a time, however long the sequence
        chunks = (self.avatar.extend(vertices[i:i + step], rest) for i in range(0, len(vertices), step))
        return fit_crop(camera, chunks, o.width, o.height)

    def _target(self, width: int, height: int):
        """The (scene, resolved, final) framebuffers of one atlas size (under the lock); the last few sizes are
        kept. The scene is drawn into the first (multisampled for MSAA, else into a texture), resolved into
        the second (a texture; MSAA only, else None), and the post pass (shaders/post.frag: FXAA, YUV)
        reads that texture and writes the third."""
        key = (width, height)
        if key not in self._targets:
            ctx = self._ctx
            if len(self._targets) >= 4:  # sizes vary with the face's box: drop the oldest
                for fbo in filter(None, self._targets.pop(next(iter(self._targets)))):
                    for attachment in (*fbo.color_attachments, fbo.depth_attachment):
                        if attachment is not None:
                            attachment.release()
                    fbo.release()

            def texture():
                color = ctx.texture(key, 4)
                color.filter = (ctx.LINEAR, ctx.LINEAR)  # FXAA and the chroma blocks use bilinear taps
                color.repeat_x = color.repeat_y = False
                return color

            color = ctx.renderbuffer(key, 4, samples=self._samples) if self._samples else texture()
            scene = ctx.framebuffer(color_attachments=[color],
                                    depth_attachment=ctx.depth_renderbuffer(key, samples=self._samples))
            resolved = ctx.framebuffer(color_attachments=[texture()]) if self._samples else None
            self._targets[key] = (scene, resolved, ctx.framebuffer(color_attachments=[ctx.renderbuffer(key, 4)]))
        return self._targets[key]

    def _post(self, smooth: bool, yuv: bool, bands: bool = False) -> tuple:
        """A post pass's (program, vertex array) (under the lock): FXAA or a plain copy, YUV or RGB, over whole
        tiles (a full-screen triangle) or, with `bands`, over rectangles given in atlas pixels
        (`_band_buffer`, render/edges.py). One program each, the switches compiled in (shaders/post.frag says
        why)."""
        key = (smooth, yuv, bands)
        if key not in self._posts:
            ctx = self._ctx
            source = _shader("post.frag").replace(
                "\n", f"\n#define SMOOTH_EDGES {int(smooth)}\n#define TO_YUV {int(yuv)}\n", 1)  # after #version
            program = ctx.program(vertex_shader=_shader("band.vert" if bands else "post.vert"), fragment_shader=source)
            program["scene"].value = 1  # texture unit 1: unit 0 holds the face texture
            if bands:
                self._band_buffer = self._band_buffer or ctx.buffer(reserve=1 << 16, dynamic=True)
                vao = ctx.vertex_array(program, [(self._band_buffer, "2f", "in_pixel")])
            else:
                vao = ctx.vertex_array(program, [])
            self._posts[key] = program, vao
        return self._posts[key]

    def _smooth_bands(self, tiles: list[Tile], bands: list[np.ndarray], yuv: bool, atlas: tuple[int, int],
                      final) -> None:
        """FXAA again over each tile's edge rectangles (render/edges.py), over the plain pass's pixels: the
        same output there as FXAA everywhere, at a fraction of its cost (under the lock)."""
        parts = [quad_vertices(rects, tile.shift) for tile, rects in zip(tiles, bands)]
        if not sum(len(p) for p in parts):
            return
        program, vao = self._post(True, yuv, bands=True)
        data = np.concatenate(parts).tobytes()
        if len(data) > self._band_buffer.size:
            self._band_buffer.orphan(2 * len(data))
        self._band_buffer.write(data)
        program["atlas"].value = (float(atlas[0]), float(atlas[1]))
        start = 0
        for tile, part in zip(tiles, parts):
            if len(part):
                _clamp_reads(program, tile)
                final.scissor = tile.moved(tile.box)
                vao.render(vertices=len(part), first=start)
            start += len(part)

    def _empty_frame(self, yuv: bool = False) -> np.ndarray:
        """The full frame with nothing in it (under the lock): what lies outside every crop; (H, W, 3) RGB,
        or with yuv the packed (H * 3 / 2, W) planes."""
        if yuv not in self._backdrops:
            o = self.options
            image = self._draw_gl(Crop.full(o.width, o.height), [(0, 0, o.width, o.height)], mesh=False, yuv=yuv)[0]
            self._backdrops[yuv] = _paste_yuv420(np.empty((o.height * 3 // 2, o.width), np.uint8), image, 0, 0) \
                if yuv else image
        return self._backdrops[yuv]

    def _meshes(self, vertices: np.ndarray, rest: np.ndarray, colors: np.ndarray | None) -> Iterator[tuple]:
        """(positions, normals, colours) of the avatar, frame by frame, computed CHUNK frames at a time."""
        for start in range(0, len(vertices), CHUNK):
            part = slice(start, start + CHUNK)
            yield from zip(*self._geometry(vertices[part], rest, None if colors is None else colors[part]))

    def _moved_boxes(self, meshes: Iterator[tuple], camera: Camera, crop: Crop,
                     yuv: bool) -> Iterator[tuple[tuple, Rect | None]]:
        """(mesh, box) per frame: the box (x, y, w, h in the crop, y down) to redraw: the whole crop for the first
        frame, then the box around what moved since the image showed it (render.redraw), or None when nothing
        did. Boxes depend only on geometry, so a batch's boxes are known before any of it is drawn."""
        whole = (0, 0, crop.width, crop.height)
        shown, wide = None, 0  # wide: frames in a row whose box held most of the crop
        for mesh in meshes:
            if shown is None:
                shown, box = Shown.of(*mesh), whole
            elif wide >= GIVE_UP_AFTER:
                box = whole
            else:
                changed = shown.changed(*mesh)
                box = moved_box(changed, self.avatar.faces, shown, mesh[0], camera, crop, self._reach)
                if box is not None:
                    box = _even(box, crop) if yuv else box  # whole 2x2 chroma blocks
                    shown.update(changed, *mesh)
                wide = wide + 1 if box is not None and box[2] * box[3] > PAYS_BELOW * crop.width * crop.height else 0
            yield mesh, box

    def _geometry(self, vertices: np.ndarray, rest: np.ndarray, albedo: np.ndarray | None):
        """(T, V, 3) frames -> the avatar's (T, V', 3) positions, (T, V', 3) normals and (T, V', 4) colours,
        computed for several frames at once (numpy's per-call cost was a tenth of a frame's time)."""
        avatar, o = self.avatar, self.options
        positions = avatar.extend(vertices, rest)
        normals = vertex_normals(positions, avatar.faces)
        V = avatar.n_vertices
        lo, hi = o.cavity_mm
        hollow = np.clip((cavity(positions[:, :V], normals[:, :V], avatar.face_edges) - lo) / (hi - lo), 0, 1)
        colors = np.repeat(avatar.colors[None], len(vertices), axis=0)
        shade = (1 - o.occlusion * hollow)[..., None]
        if albedo is None:
            colors[:, :V, :3] *= shade
        else:
            colors[:, :V, :3] = albedo * shade
            colors[:, :V, 3] = 0.0
        return positions, normals, colors

    def _frame(self, image: np.ndarray, crop: Crop) -> np.ndarray:
        """The whole frame: the crop's pixels on the background."""
        if crop.is_full:
            return image.copy()
        with self._lock, self._ctx:
            background = self._empty_frame()
        return crop.paste(image, background.copy())

    def _frame_yuv420(self, image: np.ndarray, crop: Crop) -> np.ndarray:
        """The whole frame's packed YUV 4:2:0 planes: the crop's (Y, U, V) pixels on the background."""
        with self._lock, self._ctx:
            frame = self._empty_frame(yuv=True).copy()
        return _paste_yuv420(frame, image, crop.x, crop.y)

    def _draw(self, batch: list[tuple[tuple, Rect | None]], camera: Camera, texture: np.ndarray, crop: Crop,
              yuv: bool) -> list[np.ndarray | None]:
        """(mesh, box) per frame -> the pixels (h, w, 3) of each box (x, y, w, h in the crop, y down), None where
        the box is None; (Y, U, V) instead of (R, G, B) with yuv (see shaders/post.frag). One GL round trip
        (more only if the atlas cannot hold them all), none if no box is drawn."""
        drawn = [(mesh, box) for mesh, box in batch if box is not None]
        if not drawn:
            return [None] * len(batch)
        bands = None if self._fxaa_everywhere or not self._fxaa else [  # numpy only: outside the lock
            edge_bands(positions, self._edges, camera, crop) for (positions, _, _), _ in drawn]
        with self._lock, self._ctx:
            self._upload(texture)
            for buffers, ((positions, normals, colors), _) in zip(self._buffers, drawn):
                for name, data in (("position", positions), ("normal", normals), ("color", colors)):
                    buffers[name].write(np.ascontiguousarray(data, dtype="f4").tobytes())
            self._program["view"].write(camera.view.T.astype("f4").tobytes())  # GL wants column-major
            self._program["projection"].write(camera.projection.T.astype("f4").tobytes())
            pixels = iter(self._draw_gl(crop, [(x, crop.height - y - h, w, h) for _, (x, y, w, h) in drawn],
                                        yuv=yuv, bands=bands))  # GL rows run bottom-up
        return [None if box is None else next(pixels) for _, box in batch]

    def _draw_gl(self, crop: Crop, boxes: list[Rect], mesh: bool = True, yuv: bool = False,
                 bands: list[np.ndarray] | None = None) -> list[np.ndarray]:
        """Draw the uploaded meshes (the i-th frame's buffers for boxes[i]; or only the background) into `crop`
        (under the lock) -> each box's (h, w, 3) uint8, top row first. Boxes are GL's (x, y, w, h) in the crop.
        bands: per box, the rectangles where FXAA runs (render/edges.py); None: everywhere, with FXAA on.
        As many frames as the atlas holds go through each round trip (render.atlas)."""
        scene, resolved, final = self._target(*atlas_size(crop.width, crop.height, self.options.batch))
        out: list[np.ndarray] = []
        while len(out) < len(boxes):  # the atlas holds at least one whole crop: each trip draws a frame or more
            tiles = pack(boxes[len(out):], self._reach, (crop.width, crop.height), scene.size)
            out += self._draw_tiles(crop, tiles, len(out), mesh, yuv, scene, resolved, final,
                                    None if bands is None else bands[len(out):len(out) + len(tiles)])
        return out

    def _draw_tiles(self, crop: Crop, tiles: list[Tile], first: int, mesh: bool, yuv: bool,
                    scene, resolved, final, bands: list[np.ndarray] | None = None) -> list[np.ndarray]:
        """One round trip: every tile's scene (the i-th tile's mesh from the buffers of frame first + i), one
        post pass and one read of the atlas -> each tile's box, top row first. Each tile's viewport is the
        crop's, shifted by whole (even) pixels, so the tile's pixels are the crop's; a scissor keeps llvmpipe
        (clear, draw) inside the tile."""
        ctx = self._ctx
        scene.use()
        ctx.disable(ctx.CULL_FACE)  # both sides drawn: openings show the mesh's back
        for i, tile in enumerate(tiles, first):
            x, y, w, h = crop.viewport
            scene.viewport = (x + tile.shift[0], y + tile.shift[1], w, h)
            scene.scissor = tile.moved(tile.drawn)
            scene.clear(depth=1.0)
            ctx.enable(ctx.DEPTH_TEST)
            if mesh:
                ctx.depth_func = "<"
                self._vaos[i].render()
            ctx.depth_func = "<="  # the background sits at the far plane (depth 1): only where nothing was drawn
            self._background_vao.render(vertices=3)
        used = (0, 0, max(t.moved(t.drawn)[0] + t.drawn[2] for t in tiles),
                max(t.moved(t.drawn)[1] + t.drawn[3] for t in tiles))
        source = scene
        if resolved is not None:
            scene.scissor = used  # the blit below keeps to the scissor
            ctx.copy_framebuffer(resolved, scene)  # the MSAA resolve
            source = resolved
        if self._fxaa or yuv:
            final.use()
            ctx.disable(ctx.DEPTH_TEST)
            source.color_attachments[0].use(1)
            everywhere = self._fxaa and mesh and bands is None  # FXAA on every pixel ("fxaa-full")
            program, post = self._post(everywhere, yuv)
            for tile in tiles:
                if everywhere:
                    _clamp_reads(program, tile)
                final.scissor = tile.moved(tile.box)
                post.render(vertices=3)
            if self._fxaa and mesh and bands is not None:
                self._smooth_bands(tiles, bands, yuv, scene.size, final)
            source = final
        data = np.frombuffer(source.read(viewport=used, components=3, alignment=1), np.uint8)
        atlas = data.reshape(used[3], used[2], 3)
        out = []
        for tile in tiles:
            x, y, w, h = tile.moved(tile.box)
            out.append(atlas[y:y + h, x:x + w][::-1])
        return out


# 8-bit sRGB (gamma 2.2) -> 8-bit of the power 1.1: face.frag squares the filtered texel for linear light.
_HALF_LINEAR = np.round(255 * (np.arange(256) / 255) ** 1.1).astype(np.uint8)


def _clamp_reads(program, tile: Tile) -> None:
    """FXAA's reads clamp to the tile's drawn pixels (its first and last texels in the atlas), as they would
    at the edge of a texture that held this frame alone."""
    x, y, w, h = tile.moved(tile.drawn)
    program["tile"].value = (x, y, x + w - 1, y + h - 1)


def _even(box: tuple[int, int, int, int], crop: Crop) -> tuple[int, int, int, int]:
    """A box (x, y, w, h) in the crop grown to even edges, within the crop (whose sides are even)."""
    x, y, w, h = box
    x0, y0 = x - x % 2, y - y % 2
    return x0, y0, min(x + w + (x + w) % 2, crop.width) - x0, min(y + h + (y + h) % 2, crop.height) - y0


def _paste_yuv420(packed: np.ndarray, image: np.ndarray, x: int, y: int) -> np.ndarray:
    """Write an (h, w, 3) image of (Y, U, V) pixels (U and V equal over each 2x2 block; x, y even) into a
    packed (H * 3 / 2, W) YUV 4:2:0 frame at (x, y), in place; returns `packed`."""
    H, W = packed.shape[0] * 2 // 3, packed.shape[1]
    h, w = image.shape[:2]
    packed[y:y + h, x:x + w] = image[..., 0]
    chroma = packed[H:].reshape(2, H // 2, W // 2)  # the U plane, then the V plane
    chroma[:, y // 2:(y + h) // 2, x // 2:(x + w) // 2] = image[::2, ::2, 1:].transpose(2, 0, 1)
    return packed


def _batches(items: Iterator, n: int) -> Iterator[list]:
    """Lists of n items in order (the last one shorter)."""
    batch = []
    for item in items:
        batch.append(item)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch


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
                  mesh: Topology = MEDIAPIPE_468, texture: np.ndarray | None = None) -> np.ndarray:
    """(T, V, 3) mm -> (T, H, W, 3) uint8 with the shared renderer."""
    return shared_renderer(options, mesh).render_frames(vertices, texture=texture)
