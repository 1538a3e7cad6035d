"""Face textures: the person's face from one video frame, or a neutral painted one, in one fixed UV layout.

Every texture is an (S, S, 3) uint8 sRGB image in the same layout (`face_uv()`): the MediaPipe 468 mesh seen
from the front, so one set of texture coordinates serves every face and a style stores only the picture.
The two eye openings are in the layout too: each eye is a fan from its contour to the contour's centre,
which is where the iris lands (the iris centre found by MediaPipe's refined landmarks).

    frame = tracked.texture_frame                          # a frontal, well-lit frame with the mouth at rest
    image = face_texture(frame.image, frame.pixels)        # warp the photo into the layout, even out its light
    image = neutral_texture()                              # for the generic model and the presets

Image rows run top to bottom and uv (0, 0) is the image's top-left corner, as in glTF.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .topology import MEDIAPIPE_468, Topology

TEXTURE_SIZE = 512
IRIS_CENTRES = (468, 473)  # refined landmarks: the subject's right and left iris centre
_ASSET = Path(__file__).parent / "assets" / "face_uv.npz"


# --- the layout ---------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def face_uv() -> np.ndarray:
    """(468, 2) float32 texture coordinates of the MediaPipe vertices (see `derive_face_uv`)."""
    with np.load(_ASSET, allow_pickle=False) as z:
        uv = z["uv"].astype(np.float32)
    uv.setflags(write=False)
    return uv


def derive_face_uv(margin: float = 0.04) -> np.ndarray:
    """The layout, computed once (stored in assets/face_uv.npz; a stored texture depends on it, so it must not
    change when faces.npz does): the mean shipped face seen from the front, scaled into [margin, 1 - margin]
    with one scale for both axes."""
    from .data.faces import load_faces

    mean = np.mean(list(load_faces().values()), axis=0)
    xy = mean[:, :2] * [1.0, -1.0]   # x to the subject's left is the image's right; y up is the image's top
    lo, hi = xy.min(0), xy.max(0)
    scale = (1 - 2 * margin) / (hi - lo).max()
    return ((xy - (lo + hi) / 2) * scale + 0.5).astype(np.float32)


def eye_loops(topology: Topology = MEDIAPIPE_468) -> tuple[np.ndarray, np.ndarray]:
    """The (right, left) eye contours, in the order that pairs them with IRIS_CENTRES."""
    return topology.right_eye, topology.left_eye


@dataclass(frozen=True)
class _Raster:
    """Which layout triangle covers each texel, and where in it: computed once for the fixed layout."""
    corners: np.ndarray    # (S, S, 3) int: three indices into the layout points (468 vertices, 2 eye centres)
    weights: np.ndarray    # (S, S, 3) float32 barycentric weights
    inside: np.ndarray     # (S, S) bool: texel covered by a face triangle (not an eye, not outside)
    eyes: np.ndarray       # (S, S) bool: texel inside an eye opening


@lru_cache(maxsize=2)
def _raster(size: int) -> _Raster:
    uv = face_uv()
    centres = np.stack([uv[loop].mean(0) for loop in eye_loops()])
    points = np.concatenate([uv, centres]) * size - 0.5          # texel centres sit at integer + 0.5
    fans = [np.c_[loop, np.roll(loop, -1), np.full(len(loop), 468 + i)] for i, loop in enumerate(eye_loops())]
    triangles = np.concatenate([MEDIAPIPE_468.faces, *fans])
    corners = np.full((size, size, 3), -1, np.int64)
    weights = np.zeros((size, size, 3), np.float32)
    for t in triangles:
        p = points[t]
        x0, y0 = np.floor(p.min(0)).astype(int).clip(0, size - 1)
        x1, y1 = np.ceil(p.max(0)).astype(int).clip(0, size - 1)
        ys, xs = np.mgrid[y0:y1 + 1, x0:x1 + 1]
        m = np.array([[p[0, 0] - p[2, 0], p[1, 0] - p[2, 0]], [p[0, 1] - p[2, 1], p[1, 1] - p[2, 1]]])
        if abs(np.linalg.det(m)) < 1e-9:
            continue
        ab = np.linalg.solve(m, np.stack([xs.ravel() - p[2, 0], ys.ravel() - p[2, 1]]))
        w = np.stack([ab[0], ab[1], 1 - ab[0] - ab[1]], -1)
        hit = (w >= -1e-4).all(1)
        corners[ys.ravel()[hit], xs.ravel()[hit]] = t
        weights[ys.ravel()[hit], xs.ravel()[hit]] = w[hit]
    covered = corners[..., 0] >= 0
    eyes = covered & (corners.max(-1) >= 468)
    return _Raster(corners, weights, covered & ~eyes, eyes)


# --- a texture from a photo --------------------------------------------------------------------------------
def face_texture(image: np.ndarray, pixels: np.ndarray, size: int = TEXTURE_SIZE,
                 even_light: float = 0.85) -> np.ndarray:
    """Warp the face in `image` (H, W, 3) uint8, whose 478 refined landmarks are at `pixels` (478, >=2), into
    the layout, triangle by triangle, and even out its lighting (see `even_lighting`)."""
    import cv2

    pixels = np.asarray(pixels, np.float32)[:, :2]
    if pixels.shape[0] < 478:
        raise ValueError(f"a face texture needs the 478 refined landmarks (with the irises), got {pixels.shape[0]}")
    r = _raster(size)
    source = np.concatenate([pixels[:468], pixels[list(IRIS_CENTRES)]])
    where = np.einsum("hwk,hwkc->hwc", r.weights, source[r.corners.clip(0)])
    where = _extend_outward(where, r.inside | r.eyes)  # beyond the mesh: keep going, for filtering at its edge
    warped = cv2.remap(np.ascontiguousarray(image), where[..., 0].astype(np.float32),
                       where[..., 1].astype(np.float32), cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
    return even_lighting(warped, r.inside, even_light)


def texture_of(tracked) -> "torch.Tensor | None":
    """The face texture of a tracking result (imitator.tracking.TrackResult) as a uint8 tensor for a style,
    or None when it has no texture frame (a result loaded from .npz keeps no video frames)."""
    import torch

    frame = getattr(tracked, "texture_frame", None)
    if frame is None:
        return None
    return torch.from_numpy(face_texture(frame.image, frame.pixels))


def _extend_outward(values: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Fill the texels outside `known` with the value of the nearest known texel."""
    from scipy.ndimage import distance_transform_edt

    _, (rows, cols) = distance_transform_edt(~known, return_indices=True)
    return values[rows, cols]


def even_lighting(texture: np.ndarray, skin: np.ndarray, strength: float = 0.85) -> np.ndarray:
    """Divide out the photo's broad shading (a key light from one side, a darker chin) so that the renderer's
    lights do not shade the face a second time: each texel's brightness is scaled toward the skin's median
    by the ratio to a heavily blurred brightness map (features such as brows and lips are far smaller than
    the blur, so they keep their contrast). strength: 0 = unchanged, 1 = fully flat broad light."""
    from scipy.ndimage import gaussian_filter

    rgb = texture.astype(np.float32)
    luma = rgb @ np.array([0.299, 0.587, 0.114], np.float32)
    sigma = texture.shape[0] / 12
    mask = skin.astype(np.float32)
    broad = gaussian_filter(luma * mask, sigma) / np.maximum(gaussian_filter(mask, sigma), 1e-3)
    target = np.median(luma[skin])
    gain = np.clip(target / np.maximum(broad, 1.0), 0.55, 1.8) ** strength
    return np.clip(rgb * gain[..., None] + 0.5, 0, 255).astype(np.uint8)


def frame_score(image: np.ndarray, landmarks: np.ndarray) -> float:
    """How good a video frame is as the texture source (higher is better): facing the camera, the mouth at
    rest, the eyes open, and evenly and well lit. landmarks: (478, 3) pixels (x right, y down, z away)."""
    p = np.asarray(landmarks, np.float32)
    size = np.linalg.norm(p[263, :2] - p[33, :2]) + 1e-6   # eye corner to eye corner
    yaw = abs(p[1, 0] - (p[33, 0] + p[263, 0]) / 2) / size + abs(p[234, 2] - p[454, 2]) / size
    pitch = abs((p[1, 1] - (p[33, 1] + p[263, 1]) / 2) / size - 0.55)  # nose tip below the eye line
    mouth = np.linalg.norm(p[13, :2] - p[14, :2]) / size
    eyes = min(np.linalg.norm(p[159, :2] - p[145, :2]), np.linalg.norm(p[386, :2] - p[374, :2])) / size
    h, w = image.shape[:2]
    xs, ys = p[:468, 0].round().astype(int).clip(0, w - 1), p[:468, 1].round().astype(int).clip(0, h - 1)
    luma = image[ys, xs].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    left, right = luma[p[:468, 0] > p[1, 0]].mean(), luma[p[:468, 0] <= p[1, 0]].mean()
    balance = abs(left - right) / max(luma.mean(), 1.0)
    exposure = abs(luma.mean() - 140) / 140 + (luma > 245).mean() + (luma < 20).mean()
    return -(3 * yaw + pitch + 4 * mouth + 2 * max(0.0, 0.12 - eyes) * 10 + 2 * balance + exposure)


# --- a neutral painted texture -----------------------------------------------------------------------------
SKIN = (0.80, 0.62, 0.52)      # sRGB albedos of the neutral face
LIPS = (0.72, 0.44, 0.43)
BROWS = (0.34, 0.24, 0.19)
IRIS = (0.36, 0.27, 0.19)
SCLERA = (0.90, 0.88, 0.85)

_BROWS = ([70, 63, 105, 66, 107, 55, 65, 52, 53, 46], [300, 293, 334, 296, 336, 285, 295, 282, 283, 276])


@lru_cache(maxsize=2)
def neutral_texture(size: int = TEXTURE_SIZE) -> np.ndarray:
    """A calm, even skin with soft lips, brows and brown eyes, painted procedurally (no photo of anyone), so
    the generic model and the presets look like a face rather than a mask. Deterministic."""
    from PIL import Image, ImageDraw, ImageFilter
    from scipy.ndimage import gaussian_filter

    uv = face_uv() * size
    rng = np.random.default_rng(0)
    noise = gaussian_filter(rng.standard_normal((size, size)), size / 40)
    noise *= 0.015 / noise.std()
    base = np.ones((size, size, 3), np.float32) * SKIN * (1 + noise[..., None])

    def mask(draw_fn, blur: float) -> np.ndarray:
        m = Image.new("L", (size, size), 0)
        draw_fn(ImageDraw.Draw(m))
        return np.asarray(m.filter(ImageFilter.GaussianBlur(blur)), np.float32)[..., None] / 255

    def poly(indices):
        return [tuple(uv[i]) for i in indices]

    def paint(image, m, color, alpha=1.0):
        return image * (1 - alpha * m) + alpha * m * np.asarray(color, np.float32)

    s = size / 512
    for cheek in (50, 280):   # a little warmth on the cheeks
        x, y = uv[cheek]
        base = paint(base, mask(lambda d: d.ellipse((x - 40 * s, y - 28 * s, x + 40 * s, y + 28 * s), fill=255),
                                22 * s), (0.84, 0.55, 0.48), 0.35)
    lips = mask(lambda d: d.polygon(poly(MEDIAPIPE_468.lip_outer), fill=255), 2.5 * s)
    base = paint(base, lips, LIPS)
    for brow in _BROWS:
        base = paint(base, mask(lambda d: d.polygon(poly(brow), fill=255), 3 * s), BROWS, 0.8)
    for loop in eye_loops():
        contour = uv[loop]
        centre = contour.mean(0)
        width = np.ptp(contour[:, 0])
        opening = mask(lambda d: d.polygon([tuple(c) for c in contour], fill=255), 1.0 * s)
        base = paint(base, opening, SCLERA)
        iris_r = 0.21 * width
        for radius, blur, color in ((1.0, 0.8, (0.22, 0.16, 0.12)),     # the darker limbal ring
                                    (0.8, 1.5, IRIS), (0.38, 0.6, (0.04, 0.03, 0.03))):  # iris, pupil
            disk = mask(lambda d: d.ellipse((*(centre - radius * iris_r), *(centre + radius * iris_r)), fill=255),
                        blur * s)
            base = paint(base, disk * opening, color)  # the lids cover the top and bottom of the iris
        lash = mask(lambda d: d.line([tuple(c) for c in np.r_[contour, contour[:1]]], fill=255,
                                     width=max(1, round(2 * s))), 0.7 * s)
        base = paint(base, lash, (0.18, 0.12, 0.10), 0.8)
    return np.clip(base * 255 + 0.5, 0, 255).astype(np.uint8)


# --- what the exports add to the texture ----------------------------------------------------------------
# Exports draw everything with one textured material; parts with a flat colour (the mouth's inside, the
# teeth) point their texture coordinates at a small white square in the top-left corner, which is never
# face, and carry their colour as a vertex colour that multiplies the texture (glTF's COLOR_0).
WHITE_UV = (0.02, 0.02)
_WHITE_SIDE = 0.03


def with_white_patch(texture: np.ndarray) -> np.ndarray:
    """A copy of `texture` with the white square at WHITE_UV painted in."""
    out = np.array(texture, copy=True)
    size = out.shape[0]
    out[:int(_WHITE_SIDE * size) + 1, :int(_WHITE_SIDE * size) + 1] = 255
    return out
