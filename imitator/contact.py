"""Contact-true targets: close the lips of tracked meshes where a lip closure was labelled.

MediaPipe's inner-lip landmarks rarely meet on a real face even when the lips are shut (a residual gap of
1-5 mm), so a model trained on tracked faces learns a mouth that never closes. Where the labeller
(`imitator.lips`) found a closure, this moves the upper and lower inner-lip vertices toward each other
until they touch at the closure frame. The correction fades out in time (a raised cosine over a few frames)
and in space (a Gaussian in distance from the inner lip, on the neutral template), so the lip bodies move
with their edges and frames away from closures are left exactly as tracked.
"""
from __future__ import annotations

from dataclasses import dataclass
import numpy as np

from .topology import MEDIAPIPE_468, Topology, lip_distance


@dataclass(frozen=True)
class ContactConfig:
    half_width_frames: int = 4    # raised-cosine window: full correction at the closure, 0 at +-this
    spatial_sigma_mm: float = 8.0  # falloff of the correction with distance from the inner lip (template)
    max_gap_mm: float = 8.0       # a "closure" with a wider tracked gap is a labelling or tracking error:
                                  # leave it as tracked rather than pull the lips this far


@dataclass(frozen=True)
class LipPairs:
    """The inner-lip contour split into facing vertices: upper[k] faces lower[k]; corners not included."""
    upper: np.ndarray
    lower: np.ndarray
    corners: np.ndarray


def lip_pairs(template: np.ndarray, topology: Topology = MEDIAPIPE_468) -> LipPairs:
    """Facing upper/lower inner-lip vertices, found from the contour loop: the two mouth corners are the
    loop's extremes in x, and walking from one corner both ways pairs the k-th vertex of each side."""
    loop = np.asarray(topology.lip_inner)
    x = template[loop, 0]
    a, b = int(np.argmin(x)), int(np.argmax(x))
    n = len(loop)
    forward = [loop[(a + k) % n] for k in range(1, (b - a) % n)]
    backward = [loop[(a - k) % n] for k in range(1, (a - b) % n)]
    m = min(len(forward), len(backward))
    forward, backward = np.array(forward[:m]), np.array(backward[:m])
    if template[forward, 1].mean() > template[backward, 1].mean():
        upper, lower = forward, backward
    else:
        upper, lower = backward, forward
    return LipPairs(upper=upper, lower=lower, corners=np.array([loop[a], loop[b]]))


def _window(offset: np.ndarray, half_width: int) -> np.ndarray:
    """Raised cosine: 1 at 0, smoothly to 0 at +-half_width (and 0 beyond)."""
    w = 0.5 * (1.0 + np.cos(np.pi * np.clip(np.abs(offset) / half_width, 0.0, 1.0)))
    return np.where(np.abs(offset) < half_width, w, 0.0)


def spread_matrix(template: np.ndarray, pairs: LipPairs, sigma_mm: float) -> tuple[np.ndarray, np.ndarray,
                                                                                      np.ndarray]:
    """How a displacement of the paired inner-lip vertices spreads over the face.

    Returns (region vertex indices R, weights (R, K) on the upper pairs, weights (R, K) on the lower pairs):
    a region vertex moves by sum_k W_up[r, k] * d_up[k] + W_low[r, k] * d_low[k]. Each vertex belongs to
    the upper or lower side (above or below the mouth line at its x), takes the displacement of that side
    interpolated linearly in x between the facing pairs (0 at and beyond the mouth corners, so the cheeks
    stay), scaled by a Gaussian of its distance to that side's inner lip. Inner-lip vertices move exactly
    as given."""
    upper, lower, corners = pairs.upper, pairs.lower, pairs.corners
    k = len(upper)
    mid = 0.5 * (template[upper] + template[lower])
    cx = template[corners, 0]
    # mouth line: y of the midpoints over x, corners included
    line_x = np.r_[cx.min(), mid[:, 0], cx.max()]
    line_y = np.r_[template[corners[np.argmin(cx)], 1], mid[:, 1], template[corners[np.argmax(cx)], 1]]
    order = np.argsort(line_x)
    line_x, line_y = line_x[order], line_y[order]

    d_up = np.linalg.norm(template[:, None] - template[upper][None], axis=-1).min(1)
    d_low = np.linalg.norm(template[:, None] - template[lower][None], axis=-1).min(1)
    region = np.flatnonzero(np.minimum(d_up, d_low) < 3 * sigma_mm)
    w_up = np.zeros((len(region), k))
    w_low = np.zeros((len(region), k))
    for i, v in enumerate(region):
        if v in pairs.corners:
            continue
        if v in upper:
            w_up[i, np.flatnonzero(upper == v)[0]] = 1.0
            continue
        if v in lower:
            w_low[i, np.flatnonzero(lower == v)[0]] = 1.0
            continue
        is_upper = template[v, 1] > np.interp(template[v, 0], line_x, line_y)
        side = upper if is_upper else lower
        distance = d_up[v] if is_upper else d_low[v]
        row = _hat_weights(template[v, 0], template[side, 0], cx.min(), cx.max())
        row *= np.exp(-0.5 * (distance / sigma_mm) ** 2)
        (w_up if is_upper else w_low)[i] = row
    return region, w_up, w_low


def _hat_weights(x: float, nodes: np.ndarray, left: float, right: float) -> np.ndarray:
    """Weights of linear interpolation at x between `nodes` (any order), with value 0 at the corners
    `left`/`right` and beyond them."""
    order = np.argsort(nodes)
    xs = np.r_[left, nodes[order], right]
    weights = np.zeros(len(nodes))
    if x <= xs[0] or x >= xs[-1]:
        return weights
    j = int(np.searchsorted(xs, x)) - 1  # xs[j] <= x < xs[j+1]
    t = (x - xs[j]) / max(xs[j + 1] - xs[j], 1e-9)
    for node, share in ((j, 1 - t), (j + 1, t)):
        if 1 <= node <= len(nodes):  # 0 and len+1 are the corners: they carry no displacement
            weights[order[node - 1]] += share
    return weights


@dataclass
class ContactResult:
    vertices: np.ndarray          # (T, V, 3) corrected
    corrected: np.ndarray         # closure frames that were closed
    left_open: np.ndarray         # closure frames left as tracked (gap above max_gap_mm)


def close_lips(vertices: np.ndarray, template: np.ndarray, frames: np.ndarray, topology: Topology = MEDIAPIPE_468,
               config: ContactConfig = ContactConfig()) -> ContactResult:
    """Make the lips touch at each closure frame in `frames`, fading the correction out around it.

    At frame t the facing inner-lip vertices move toward each other by w(t - f) times the gap they had at
    the nearest (highest-weight) closure f, half each, but never by more than their own gap at t, so the
    lips never cross. Frames farther than `half_width_frames` from every closure are unchanged."""
    out = np.array(vertices, dtype=np.float32, copy=True)
    frames = np.asarray(frames, dtype=np.int64)
    n = len(out)
    gaps = lip_distance(out, topology)
    keep = np.array([0 <= f < n and gaps[f] <= config.max_gap_mm for f in frames], dtype=bool)
    result = ContactResult(out, frames[keep] if len(frames) else frames, frames[~keep] if len(frames) else frames)
    if not keep.any():
        return result
    pairs = lip_pairs(template, topology)
    region, w_up, w_low = spread_matrix(template, pairs, config.spatial_sigma_mm)

    closures = frames[keep]
    weight = _window(np.arange(n)[:, None] - closures[None, :], config.half_width_frames)  # (T, C)
    best = weight.argmax(1)
    w = weight[np.arange(n), best]
    touched = np.flatnonzero(w > 0)
    gap_now = out[:, pairs.upper] - out[:, pairs.lower]                  # (T, K, 3)
    gap_closure = gap_now[closures[best[touched]]]                      # (t, K, 3)
    size = np.linalg.norm(gap_closure, axis=-1)                          # (t, K)
    along = np.einsum("tkc,tkc->tk", gap_now[touched], gap_closure) / np.maximum(size, 1e-9)
    cap = np.clip(along / np.maximum(size, 1e-9), 0.0, 1.0)              # never move past the current gap
    shift = (w[touched, None] * cap)[..., None] * gap_closure            # (t, K, 3): upper - lower removed
    d_up, d_low = -0.5 * shift, 0.5 * shift
    out[touched[:, None], region[None, :]] += (np.einsum("rk,tkc->trc", w_up, d_up)
                                               + np.einsum("rk,tkc->trc", w_low, d_low)).astype(np.float32)
    result.vertices = out
    return result


def closed_at_rest(template: np.ndarray, topology: Topology = MEDIAPIPE_468,
                   config: ContactConfig = ContactConfig()) -> np.ndarray:
    """A neutral face (V, 3) with its inner lips touching: the tracker's gap at rest removed the same way
    as at a labelled closure (a gap wider than config.max_gap_mm is a mouth really open, and is kept).

    A model trained on such faces (ModelConfig.closed_rest_lips) needs no guess of each person's tracker
    gap to close the lips on m, b and p: 'closed' is the same zero offset for everyone."""
    face = np.asarray(template, dtype=np.float32)
    return close_lips(face[None], face, np.array([0]), topology, config).vertices[0]


@dataclass(frozen=True)
class RestConfig:
    min_pause_s: float = 0.5    # shorter pauses (breaths between phrases) keep the tracked mouth
    ease_in_s: float = 0.2      # from the tracked mouth to rest after speech stops
    ease_out_s: float = 0.1     # and back before speech starts (lips move before the sound)
    above_mouth_mm: float = 25.0  # the lower face up to this far above the mouth centre rests; the upper
    fade_mm: float = 15.0         # face (brows, eyes) keeps its tracked motion, fading over this distance


def rest_in_pauses(vertices: np.ndarray, rest: np.ndarray, speech: np.ndarray, fps: float,
                   topology: Topology = MEDIAPIPE_468, config: RestConfig = RestConfig()) -> np.ndarray:
    """Rest-true targets: in every pause of at least `min_pause_s` (speech: a per-frame mask, imitator.vad)
    the lower face eases to `rest` (the neutral face, lips closed) and back, with raised-cosine ramps.

    Tracked talking heads often keep the mouth a few millimetres open in pauses (breathing, a tracker that
    never closes the inner lips): on the 30 train people of the real data the median opening in quiet frames
    was 5.9 mm against 6.4 mm speaking. A model trained on that hangs its mouth open through every pause of
    the speech it animates; with these targets a pause means rest, as in the synthetic corpus."""
    from .vad import pauses

    out = np.array(vertices, dtype=np.float32, copy=True)
    n = len(out)
    weight = np.zeros(n, np.float32)
    t = np.arange(n)
    ease_in, ease_out = max(round(config.ease_in_s * fps), 1), max(round(config.ease_out_s * fps), 1)
    for a, b in pauses(speech[:n], int(round(config.min_pause_s * fps))):
        rise = np.ones(n) if a == 0 else 1 - _window(np.clip(t - a, 0, None), ease_in)
        fall = np.ones(n) if b >= n else 1 - _window(np.clip(b - 1 - t, 0, None), ease_out)
        inside = (t >= a) & (t < b)
        weight = np.maximum(weight, np.where(inside, np.minimum(rise, fall), 0.0)).astype(np.float32)
    if not weight.any():
        return out
    rest = np.asarray(rest, dtype=np.float32)
    top = rest[topology.lip_inner, 1].mean() + config.above_mouth_mm
    region = np.clip((top - rest[:, 1]) / config.fade_mm, 0.0, 1.0).astype(np.float32)  # y points up
    out -= weight[:, None, None] * region[None, :, None] * (out - rest[None])
    return out
