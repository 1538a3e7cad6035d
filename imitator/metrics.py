"""Quality metrics for predicted face-mesh sequences, all in millimetres, with the vertex sets named.

Every function takes `pred` and `ref` of shape (T, V, 3) in **mm** (numpy arrays or torch tensors; tensors
are converted). Vertex sets come from a `Topology` (`imitator.topology`): `lip_vertices` for the lip metrics,
`upper_face` for FDD, `upper_lip_mid` / `lower_lip_mid` (through `lip_distance`) for mouth opening and
closures. docs/metrics.md gives each formula and how it relates to the numbers in the Imitator paper.

Frame-aligned metrics need pred and ref of equal length; `evaluate_sequence` cuts both to the shorter one
(the official Imitator test cuts the reference to the prediction's length). DTW metrics use the full
sequences, since aligning different lengths is what they are for.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

import numpy as np
import torch

from .topology import Topology, lip_distance

ArrayLike = Any  # np.ndarray or torch.Tensor; anything np.asarray understands


def _mm(x: ArrayLike) -> np.ndarray:
    """float64 numpy copy of an array or (possibly CUDA, possibly grad-tracking) torch tensor."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def _pair(pred: ArrayLike, ref: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    p, r = _mm(pred), _mm(ref)
    if p.ndim != 3 or p.shape[2] != 3:
        raise ValueError(f"pred must be (T, V, 3), got {p.shape}")
    if p.shape != r.shape:
        raise ValueError(f"pred {p.shape} and ref {r.shape} must have the same shape")
    return p, r


def vertex_errors(pred: ArrayLike, ref: ArrayLike) -> np.ndarray:
    """(T, V) Euclidean distance ||pred - ref|| of every vertex in every frame, mm."""
    p, r = _pair(pred, ref)
    return np.linalg.norm(p - r, axis=-1)


# --- reconstruction ----------------------------------------------------------------------------------
def l2_face(pred: ArrayLike, ref: ArrayLike) -> float:
    """L2_face: mean over frames and all vertices of the per-vertex Euclidean distance, mm."""
    return float(vertex_errors(pred, ref).mean())


def l2_lip(pred: ArrayLike, ref: ArrayLike, lip_vertices: Sequence[int]) -> float:
    """L2_lip, plainly: mean over frames and lip vertices of the per-vertex Euclidean distance, mm."""
    return float(vertex_errors(pred, ref)[:, np.asarray(lip_vertices)].mean())


def l2_lip_official(pred: ArrayLike, ref: ArrayLike, lip_vertices: Sequence[int]) -> float:
    """L2_lip as the official Imitator test computes it (mm).

    `Custom_errors.compute_masked_error_in_mm` multiplies pred and ref by a 0/1 lip mask and then takes the
    same mean Euclidean distance as L2_face, i.e. the mean runs over *all* V vertices with every non-lip
    vertex contributing 0. It is the Euclidean norm (not its square). So it equals
    l2_lip(...) * len(lip_vertices) / V, which is why the paper's L2_lip (~0.1 mm) is so much smaller than
    its Lip-sync (~4 mm): with FLAME's lip mask about 5% of the 5023 vertices count.
    """
    err = vertex_errors(pred, ref)
    mask = np.zeros(err.shape[1])
    mask[np.asarray(lip_vertices)] = 1.0
    return float((err * mask).mean())


def lip_sync(pred: ArrayLike, ref: ArrayLike, lip_vertices: Sequence[int]) -> float:
    """Lip-sync (LVE): per frame the largest lip-vertex Euclidean error, averaged over frames, mm.

    This is the official Imitator `lip_max_l2`. FaceFormer/CodeTalker's LVE takes the max of the *squared*
    distance instead; that number is in mm^2 and not comparable.
    """
    return float(vertex_errors(pred, ref)[:, np.asarray(lip_vertices)].max(axis=1).mean())


def lip_max(pred: ArrayLike, ref: ArrayLike, lip_vertices: Sequence[int]) -> float:
    """Lip-max: the worst lip-vertex Euclidean error over the whole sequence (max over frames), mm."""
    return float(vertex_errors(pred, ref)[:, np.asarray(lip_vertices)].max())


# --- dynamic time warping ----------------------------------------------------------------------------
def frame_cost_matrix(pred: ArrayLike, ref: ArrayLike, chunk_bytes: int = 64 << 20) -> np.ndarray:
    """(Tp, Tr) matrix C[i, j] = mean over vertices of ||pred[i, v] - ref[j, v]||, mm.

    torch.cdist per vertex (batched over vertices, chunked so each (chunk, Tp, Tr) block stays under
    `chunk_bytes`) is multi-threaded and faster than numpy broadcasting over the (..., 3) axis. The exact difference
    mode is used: the matmul shortcut would leave ~1e-8 mm where two frames are identical.
    """
    p, r = _mm(pred), _mm(ref)
    if p.ndim != 3 or r.ndim != 3 or p.shape[1:] != r.shape[1:]:
        raise ValueError(f"pred {p.shape} and ref {r.shape} must be (T, V, 3) with the same V")
    pv = torch.from_numpy(p).transpose(0, 1).contiguous()  # (V, Tp, 3)
    rv = torch.from_numpy(r).transpose(0, 1).contiguous()
    cost = torch.zeros(len(p), len(r), dtype=torch.float64)
    step = max(1, chunk_bytes // max(1, 8 * len(p) * len(r)))
    for v in range(0, p.shape[1], step):
        block = torch.cdist(pv[v:v + step], rv[v:v + step], compute_mode="donot_use_mm_for_euclid_dist")
        cost += block.sum(0)
    return (cost / p.shape[1]).numpy()


def dtw(cost: np.ndarray) -> tuple[float, int]:
    """Dynamic time warping over a cost matrix. Returns (total cost of the best path, path length).

    Steps (1,0), (0,1), (1,1); the path runs from (0,0) to (Tp-1, Tr-1). Each row is done at once: with
    `tmp[j] = C[i,j] + min(D[i-1,j], D[i-1,j-1])`, the in-row recursion D[i,j] = min(tmp[j], D[i,j-1] + C[i,j])
    has the closed form D[i] = S + cummin(tmp - S), S = cumsum(C[i]). The path is recovered by walking
    back to the cheapest predecessor (diagonal preferred on ties), only to count its length.
    """
    cost = np.asarray(cost, dtype=np.float64)
    n, m = cost.shape
    if n == 0 or m == 0:
        raise ValueError("DTW needs at least one frame in each sequence")
    acc = np.empty((n, m))
    acc[0] = np.cumsum(cost[0])
    for i in range(1, n):
        best_above = acc[i - 1].copy()
        best_above[1:] = np.minimum(best_above[1:], acc[i - 1, :-1])
        tmp = cost[i] + best_above
        s = np.cumsum(cost[i])
        acc[i] = s + np.minimum.accumulate(tmp - s)

    i, j, length = n - 1, m - 1, 1
    while i > 0 or j > 0:
        if i == 0:
            j -= 1
        elif j == 0:
            i -= 1
        else:
            step = int(np.argmin([acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1]]))
            i, j = (i - 1, j - 1) if step == 0 else (i - 1, j) if step == 1 else (i, j - 1)
        length += 1
    return float(acc[-1, -1]), length


def dtw_distance(pred: ArrayLike, ref: ArrayLike, vertices: Sequence[int] | None = None) -> float:
    """DTW distance between two sequences (lengths may differ), mm: the best alignment's summed per-frame
    cost (mean vertex L2 over `vertices`, all if None) divided by the number of aligned frame pairs.

    Identical sequences, and sequences that differ only by a time shift within static ends, give 0.
    F-DTW uses all vertices, Lip-DTW the lip vertices. O(Tp * Tr) memory and O(Tp * Tr * V) time:
    roughly 5-15 s for 1000 x 1000 frames of 468 vertices on 2 CPU cores.
    """
    p, r = _mm(pred), _mm(ref)
    if vertices is not None:
        idx = np.asarray(vertices)
        p, r = p[:, idx], r[:, idx]
    total, length = dtw(frame_cost_matrix(p, r))
    return total / length


# --- dynamics ----------------------------------------------------------------------------------------
def upper_face_dynamics(vertices: ArrayLike, template: ArrayLike, upper_face: Sequence[int],
                        squared: bool = True) -> float:
    """Mean over upper-face vertices of the std over time of the displacement from the template.

    squared=True uses ||v_t - template||^2 (mm^2), as CodeTalker's FDD does; False uses ||v_t - template|| (mm).
    std is the population std (numpy's default, ddof=0), as in CodeTalker.
    """
    v, t = _mm(vertices), _mm(template)
    idx = np.asarray(upper_face)
    disp = np.linalg.norm(v[:, idx] - t[None, idx], axis=-1)
    if squared:
        disp = disp ** 2
    return float(disp.std(axis=0).mean())


def fdd(pred: ArrayLike, ref: ArrayLike, template: ArrayLike, upper_face: Sequence[int],
        squared: bool = True) -> float:
    """FDD (upper-face dynamics deviation, CodeTalker): dynamics(ref) - dynamics(pred).

    Signed as in CodeTalker: positive means the prediction moves the upper face less than the reference.
    Units mm^2 with squared=True (CodeTalker's definition), mm with squared=False.
    """
    return (upper_face_dynamics(ref, template, upper_face, squared)
            - upper_face_dynamics(pred, template, upper_face, squared))


def jitter(vertices: ArrayLike) -> tuple[float, float]:
    """Temporal roughness of one sequence, mm per frame (per frame^2). Returns (velocity RMS, acceleration RMS):

    velocity RMS = sqrt(mean over t, v of ||x[t+1] - x[t]||^2)                (needs T >= 2)
    acceleration RMS = sqrt(mean over t, v of ||x[t+1] - 2 x[t] + x[t-1]||^2) (needs T >= 3)

    The second is "jitter" proper: speech legitimately moves the face (velocity), but frame-to-frame
    trembling shows up as second differences. A constant-velocity sequence has acceleration RMS 0.
    NaN where the sequence is too short.
    """
    x = _mm(vertices)

    def rms(d: np.ndarray) -> float:
        return float(np.sqrt((d ** 2).sum(-1).mean())) if len(d) else math.nan

    return rms(np.diff(x, n=1, axis=0)), rms(np.diff(x, n=2, axis=0))


# --- mouth opening and closures ----------------------------------------------------------------------
def closure_rate(pred_lip_distance: ArrayLike, closure_frames: Sequence[int], threshold_mm: float = 1.0,
                 window: int = 2) -> float:
    """Bilabial closure rate: share of true closure frames c where the predicted lip distance drops below
    `threshold_mm` somewhere in frames c-window .. c+window (clipped to the sequence). NaN if there are no
    closure frames (undefined rather than perfect)."""
    d = _mm(pred_lip_distance).reshape(-1)
    frames = [int(c) for c in closure_frames]
    if not frames:
        return math.nan
    if min(frames) < 0 or max(frames) >= len(d):
        raise ValueError(f"closure frames must lie in 0..{len(d) - 1}, got {min(frames)}..{max(frames)}")
    hits = sum(bool((d[max(0, c - window):c + window + 1] < threshold_mm).any()) for c in frames)
    return hits / len(frames)


def pearson(a: ArrayLike, b: ArrayLike) -> float:
    """Pearson correlation of two equal-length curves; NaN when either is constant (undefined)."""
    x, y = _mm(a).reshape(-1), _mm(b).reshape(-1)
    if x.shape != y.shape:
        raise ValueError(f"curves must have the same length, got {x.shape} and {y.shape}")
    x, y = x - x.mean(), y - y.mean()
    denom = math.sqrt(float((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / denom) if denom > 0 else math.nan


# --- one sequence, many sequences ---------------------------------------------------------------------
@dataclass(frozen=True)
class SequenceMetrics:
    """All metrics of one sequence. Units in the names; `closure_rate` is NaN without closure frames."""

    l2_face_mm: float
    l2_lip_mm: float
    l2_lip_official_mm: float
    lip_sync_mm: float
    lip_max_mm: float
    f_dtw_mm: float
    lip_dtw_mm: float
    fdd_mm2: float
    fdd_mm: float
    closure_rate: float
    mouth_open_corr: float
    velocity_rms_mm: float
    jitter_mm: float
    ref_jitter_mm: float


def evaluate_sequence(pred: ArrayLike, ref: ArrayLike, template: ArrayLike, topology: Topology,
                      closure_frames: Sequence[int] | None = None, threshold_mm: float = 1.0) -> dict[str, float]:
    """Every metric for one predicted sequence against its reference (all mm), as a flat dict.

    Frame-aligned metrics use the first min(Tp, Tr) frames; DTW uses both sequences whole.
    `closure_frames` are indices of true bilabial closures in the reference (e.g. from imitator.lips);
    those past the compared length are dropped.
    """
    p_full, r_full = _mm(pred), _mm(ref)
    t = min(len(p_full), len(r_full))
    p, r = p_full[:t], r_full[:t]
    lips, upper = np.asarray(topology.lip_vertices), np.asarray(topology.upper_face)
    pred_open, ref_open = _mm(lip_distance(p, topology)), _mm(lip_distance(r, topology))
    velocity, jit = jitter(p)
    return asdict(SequenceMetrics(
        l2_face_mm=l2_face(p, r),
        l2_lip_mm=l2_lip(p, r, lips),
        l2_lip_official_mm=l2_lip_official(p, r, lips),
        lip_sync_mm=lip_sync(p, r, lips),
        lip_max_mm=lip_max(p, r, lips),
        f_dtw_mm=dtw_distance(p_full, r_full),
        lip_dtw_mm=dtw_distance(p_full, r_full, lips),
        fdd_mm2=fdd(p, r, template, upper, squared=True),
        fdd_mm=fdd(p, r, template, upper, squared=False),
        closure_rate=closure_rate(pred_open, [c for c in closure_frames or [] if c < t], threshold_mm),
        mouth_open_corr=pearson(pred_open, ref_open),
        velocity_rms_mm=velocity,
        jitter_mm=jit,
        ref_jitter_mm=jitter(r)[1],
    ))


def summarize(results: Sequence[dict[str, float]]) -> dict[str, float]:
    """Per-key mean over sequences, skipping NaN (e.g. closure_rate of a sequence without closures);
    NaN for a key that is NaN everywhere. Each sequence weighs the same, whatever its length (unlike the
    official Imitator script, which averages running means; see docs/metrics.md)."""
    keys: list[str] = []
    for r in results:
        keys += [k for k in r if k not in keys]
    out = {}
    for k in keys:
        vals = np.array([r[k] for r in results if k in r], dtype=np.float64)
        vals = vals[~np.isnan(vals)]
        out[k] = float(vals.mean()) if len(vals) else math.nan
    return out
