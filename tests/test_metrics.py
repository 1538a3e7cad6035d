"""Each metric on hand-made sequences whose answer is known in closed form."""
import dataclasses
import itertools
import math

import numpy as np
import pytest
import torch

from imitator import metrics as ev
from imitator.topology import MEDIAPIPE_468, lip_distance

LIPS = np.asarray(MEDIAPIPE_468.lip_vertices)
UPPER = np.asarray(MEDIAPIPE_468.upper_face)
V = 468


def face_sequence(t: int = 20, seed: int = 0) -> np.ndarray:
    """A (T, V, 3) mm sequence: a random face with smooth per-vertex motion of a few mm."""
    rng = np.random.default_rng(seed)
    base = rng.normal(scale=50.0, size=(1, V, 3))
    phase = rng.uniform(0, 2 * np.pi, size=(1, V, 3))
    time = np.arange(t)[:, None, None]
    return base + 3.0 * np.sin(0.3 * time + phase)


def unit_directions(n: int, seed: int = 1) -> np.ndarray:
    d = np.random.default_rng(seed).normal(size=(n, 3))
    return d / np.linalg.norm(d, axis=1, keepdims=True)


# --- reconstruction ----------------------------------------------------------------------------------
def test_constant_offset_of_2mm_everywhere():
    ref = face_sequence()
    pred = ref + 2.0 * unit_directions(V)[None]  # every vertex off by exactly 2 mm, in varying directions
    assert ev.l2_face(pred, ref) == pytest.approx(2.0)
    assert ev.l2_lip(pred, ref, LIPS) == pytest.approx(2.0)
    assert ev.lip_sync(pred, ref, LIPS) == pytest.approx(2.0)
    assert ev.lip_max(pred, ref, LIPS) == pytest.approx(2.0)
    # the official L2_lip averages over all V vertices with non-lip ones counted as 0
    assert ev.l2_lip_official(pred, ref, LIPS) == pytest.approx(2.0 * len(LIPS) / V)


def test_offset_on_one_lip_vertex():
    ref = face_sequence()
    pred = ref.copy()
    k, d = int(LIPS[3]), 1.5
    pred[:, k] += d * unit_directions(1)[0]
    assert ev.lip_sync(pred, ref, LIPS) == pytest.approx(d)
    assert ev.lip_max(pred, ref, LIPS) == pytest.approx(d)
    assert ev.l2_face(pred, ref) == pytest.approx(d / V)
    assert ev.l2_lip(pred, ref, LIPS) == pytest.approx(d / len(LIPS))
    assert ev.l2_lip_official(pred, ref, LIPS) == pytest.approx(d / V)


def test_error_off_the_lips_leaves_lip_metrics_at_zero():
    ref = face_sequence()
    pred = ref.copy()
    off_lip = int(np.setdiff1d(np.arange(V), LIPS)[0])
    pred[:, off_lip, 0] += 4.0
    assert ev.l2_face(pred, ref) == pytest.approx(4.0 / V)
    for metric in (ev.l2_lip, ev.l2_lip_official, ev.lip_sync, ev.lip_max):
        assert metric(pred, ref, LIPS) == 0.0


def test_lip_max_is_the_worst_frame_lip_sync_the_mean_of_per_frame_worst():
    ref = face_sequence(t=10)
    pred = ref.copy()
    pred[3, LIPS[0], 2] += 5.0  # one bad frame, one bad vertex
    pred[3, LIPS[1], 2] += 1.0  # smaller error in the same frame: the max ignores it
    pred[7, LIPS[2], 1] -= 2.0
    assert ev.lip_max(pred, ref, LIPS) == pytest.approx(5.0)
    assert ev.lip_sync(pred, ref, LIPS) == pytest.approx((5.0 + 2.0) / 10)


def test_torch_tensors_give_the_same_numbers():
    ref = face_sequence()
    pred = ref + 0.5 * np.random.default_rng(3).normal(size=ref.shape)
    expected = ev.l2_face(pred, ref), ev.lip_sync(pred, ref, LIPS)
    pt, rt = torch.tensor(pred, dtype=torch.float64, requires_grad=True), torch.tensor(ref)
    assert (ev.l2_face(pt, rt), ev.lip_sync(pt, rt, torch.tensor(LIPS))) == pytest.approx(expected)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError):
        ev.l2_face(face_sequence(t=10), face_sequence(t=11))
    with pytest.raises(ValueError):
        ev.l2_face(np.zeros((10, V)), np.zeros((10, V)))


# --- DTW ---------------------------------------------------------------------------------------------
def brute_force_dtw(cost: np.ndarray) -> tuple[float, int]:
    """Cheapest monotone path by enumerating every sequence of steps (tiny matrices only)."""
    n, m = cost.shape
    best = (math.inf, 0)
    steps = [(1, 0), (0, 1), (1, 1)]
    for k in range(max(n, m) - 1, n + m - 1):
        for path in itertools.product(steps, repeat=k):
            i = j = 0
            total = cost[0, 0]
            for di, dj in path:
                i, j = i + di, j + dj
                if i >= n or j >= m:
                    break
                total += cost[i, j]
            else:
                if (i, j) == (n - 1, m - 1) and total < best[0]:
                    best = (total, k + 1)
    return best


@pytest.mark.parametrize("shape", [(1, 1), (1, 4), (4, 1), (3, 4), (5, 3), (4, 4)])
def test_dtw_matches_brute_force(shape):
    cost = np.random.default_rng(sum(shape)).uniform(size=shape)
    total, length = ev.dtw(cost)
    expected_total, expected_length = brute_force_dtw(cost)
    assert total == pytest.approx(expected_total)
    assert length == expected_length


def test_frame_cost_matrix_in_small_chunks_equals_direct():
    a, b = face_sequence(t=7, seed=1), face_sequence(t=5, seed=2)
    direct = np.linalg.norm(a[:, None] - b[None], axis=-1).mean(-1)
    np.testing.assert_allclose(ev.frame_cost_matrix(a, b, chunk_bytes=1), direct)
    np.testing.assert_allclose(ev.frame_cost_matrix(a, b), direct)


def shifted_pair(shift: int) -> tuple[np.ndarray, np.ndarray]:
    """A mouth movement in the middle of a still face, and the same movement `shift` frames later."""
    still = face_sequence(t=1)[0]
    bump = np.sin(np.linspace(0, np.pi, 12)) ** 2  # 0 at both ends: the face is still before and after
    curve = np.zeros(40)
    curve[10:22] = bump
    later = np.roll(curve, shift)
    move = 4.0 * unit_directions(V)[None]
    return still + later[:, None, None] * move, still + curve[:, None, None] * move


def test_time_shift_costs_nothing_under_dtw_but_shows_in_l2():
    pred, ref = shifted_pair(shift=3)
    assert ev.l2_face(pred, ref) > 0.3
    assert ev.dtw_distance(pred, ref) == pytest.approx(0.0, abs=1e-12)
    assert ev.dtw_distance(pred, ref, LIPS) == pytest.approx(0.0, abs=1e-12)


def test_dtw_aligns_sequences_of_different_length():
    ref = face_sequence(t=15)
    slow = np.repeat(ref, 2, axis=0)  # the same motion at half speed
    assert ev.dtw_distance(slow, ref) == pytest.approx(0.0, abs=1e-12)
    assert ev.dtw_distance(slow, ref + 1.0) > 0


def test_dtw_of_a_constant_offset_on_a_still_face_is_the_offset():
    ref = np.repeat(face_sequence(t=1), 10, axis=0)
    pred = ref + 2.0 * unit_directions(V)[None]
    # every frame pair costs 2 mm, so the per-pair average is 2 whatever the path
    assert ev.dtw_distance(pred, ref) == pytest.approx(2.0)


# --- FDD ---------------------------------------------------------------------------------------------
def test_fdd_of_a_still_prediction_is_the_reference_dynamics():
    template = face_sequence(t=1)[0]
    a = 3.0
    ref = np.repeat(template[None], 10, axis=0)
    ref[1::2, UPPER] += a * unit_directions(len(UPPER))[None]  # upper-face displacement norm 0, a, 0, a, ...
    pred = np.repeat(template[None], 10, axis=0)
    # population std of a two-valued series {0, x} in equal shares is x / 2
    assert ev.fdd(pred, ref, template, UPPER, squared=False) == pytest.approx(a / 2)
    assert ev.fdd(pred, ref, template, UPPER) == pytest.approx(a ** 2 / 2)  # CodeTalker: squared norm
    assert ev.fdd(ref, pred, template, UPPER) == pytest.approx(-(a ** 2) / 2)  # signed, as in CodeTalker
    assert ev.fdd(ref, ref, template, UPPER) == 0.0


def test_fdd_ignores_motion_below_the_upper_face():
    template = face_sequence(t=1)[0]
    lower = np.setdiff1d(np.arange(V), UPPER)
    ref = np.repeat(template[None], 10, axis=0)
    ref[1::2, lower, 1] += 5.0
    pred = np.repeat(template[None], 10, axis=0)
    assert ev.fdd(pred, ref, template, UPPER) == 0.0


# --- jitter ------------------------------------------------------------------------------------------
def test_jitter_of_constant_velocity_is_zero_and_its_velocity_rms_is_the_speed():
    start = face_sequence(t=1)
    step = np.array([0.3, 0.4, 0.0])  # 0.5 mm per frame
    seq = start + np.arange(12)[:, None, None] * step
    velocity, acceleration = ev.jitter(seq)
    assert velocity == pytest.approx(0.5)
    assert acceleration == pytest.approx(0.0, abs=1e-12)


def test_jitter_of_alternating_frames():
    still = face_sequence(t=1)
    sign = (-1.0) ** np.arange(9)
    seq = still + 0.25 * sign[:, None, None] * unit_directions(V)[None]
    velocity, acceleration = ev.jitter(seq)
    assert velocity == pytest.approx(0.5)  # +a to -a: 2a
    assert acceleration == pytest.approx(1.0)  # a - 2(-a) + a: 4a


def test_jitter_of_too_short_sequences_is_nan():
    velocity, acceleration = ev.jitter(face_sequence(t=2))
    assert not math.isnan(velocity) and math.isnan(acceleration)


# --- closures and mouth opening ----------------------------------------------------------------------
def test_closure_rate_counts_closures_within_two_frames():
    d = np.full(30, 8.0)
    d[5] = 0.5  # closure at the true frame
    d[12] = 0.9  # two frames late: still counts
    d[23] = 0.2  # three frames early: misses the closure at 26
    # the closure at 18 never goes below 1 mm: exactly 1.0 is not below the threshold
    d[18] = 1.0
    assert ev.closure_rate(d, [5, 10, 18, 26]) == pytest.approx(2 / 4)
    assert ev.closure_rate(d, [5, 10, 18, 26], threshold_mm=1.5) == pytest.approx(3 / 4)
    assert ev.closure_rate(d, [5, 10, 18, 26], window=3) == pytest.approx(3 / 4)


def test_closure_rate_at_the_sequence_edges_and_when_undefined():
    d = np.full(10, 5.0)
    d[0] = d[9] = 0.0
    assert ev.closure_rate(d, [1, 8]) == 1.0
    assert math.isnan(ev.closure_rate(d, []))
    with pytest.raises(ValueError):
        ev.closure_rate(d, [10])


def test_pearson():
    curve = np.sin(np.linspace(0, 6, 50)) + 0.1 * np.arange(50)
    assert ev.pearson(curve, curve) == pytest.approx(1.0)
    assert ev.pearson(curve, -curve) == pytest.approx(-1.0)
    assert ev.pearson(curve, 3 * curve + 7) == pytest.approx(1.0)
    assert abs(ev.pearson(np.sin(np.linspace(0, 20 * np.pi, 400)), np.cos(np.linspace(0, 20 * np.pi, 400)))) < 0.01
    assert math.isnan(ev.pearson(curve, np.ones(50)))


# --- whole sequences ---------------------------------------------------------------------------------
def test_summarize_averages_and_skips_nan():
    out = ev.summarize([{"a": 1.0, "b": math.nan}, {"a": 2.0, "b": 4.0}, {"a": 6.0, "b": math.nan}])
    assert out["a"] == pytest.approx(3.0)
    assert out["b"] == pytest.approx(4.0)
    assert math.isnan(ev.summarize([{"c": math.nan}])["c"])


def talking_face(opening: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(sequence, template): a still random face whose inner lower-lip midpoint sits `opening[t]` mm below
    the inner upper-lip midpoint, so lip_distance(sequence) == opening."""
    template = face_sequence(t=1, seed=seed)[0]
    upper, lower = int(MEDIAPIPE_468.upper_lip_mid[0]), int(MEDIAPIPE_468.lower_lip_mid[0])
    template[lower] = template[upper] - [0.0, 3.0, 0.0]
    seq = np.repeat(template[None], len(opening), axis=0)
    seq[:, lower] = template[upper] - np.outer(opening, [0.0, 1.0, 0.0])
    return seq, template


def test_evaluate_sequence_of_a_translated_prediction():
    opening = 3.0 + 3.0 * np.sin(np.linspace(0, 8, 40))
    ref, template = talking_face(opening)
    np.testing.assert_allclose(lip_distance(ref, MEDIAPIPE_468), opening, atol=1e-9)
    pred = ref + np.array([0.0, 1.2, 1.6])  # the whole head 2 mm off: the mouth moves exactly the same
    out = ev.evaluate_sequence(pred, ref, template, MEDIAPIPE_468, closure_frames=[])
    assert list(out) == [f.name for f in dataclasses.fields(ev.SequenceMetrics)]
    assert out["l2_face_mm"] == pytest.approx(2.0)
    assert out["l2_lip_mm"] == pytest.approx(2.0)
    assert out["l2_lip_official_mm"] == pytest.approx(2.0 * len(LIPS) / V)
    assert out["lip_sync_mm"] == pytest.approx(2.0)
    assert out["lip_max_mm"] == pytest.approx(2.0)
    assert out["mouth_open_corr"] == pytest.approx(1.0)
    assert out["jitter_mm"] == pytest.approx(out["ref_jitter_mm"])
    assert out["f_dtw_mm"] == pytest.approx(ev.dtw_distance(pred, ref))
    assert out["lip_dtw_mm"] == pytest.approx(ev.dtw_distance(pred, ref, LIPS))
    assert out["fdd_mm2"] == pytest.approx(ev.fdd(pred, ref, template, UPPER))
    assert out["fdd_mm"] == pytest.approx(ev.fdd(pred, ref, template, UPPER, squared=False))
    assert math.isnan(out["closure_rate"])


def test_evaluate_sequence_closures_and_unequal_lengths():
    ref_open = np.full(30, 6.0)
    ref_open[[10, 25]] = 0.0  # two true closures
    pred_open = np.full(36, 6.0)  # the prediction runs 6 frames longer: those frames are not compared
    pred_open[11] = 0.3  # closes one frame late for the first closure, never for the second
    ref, template = talking_face(ref_open)
    pred, _ = talking_face(pred_open)
    out = ev.evaluate_sequence(pred, ref, template, MEDIAPIPE_468, closure_frames=[10, 25, 33])
    assert out["closure_rate"] == pytest.approx(0.5)  # frame 33 lies past the reference: dropped
    assert out["l2_face_mm"] == pytest.approx(ev.l2_face(pred[:30], ref))
    assert out["mouth_open_corr"] == pytest.approx(ev.pearson(pred_open[:30], ref_open))
    # DTW sees the whole prediction, including the 6 extra still frames
    assert out["f_dtw_mm"] == pytest.approx(ev.dtw_distance(pred, ref))
