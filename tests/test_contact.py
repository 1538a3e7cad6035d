"""Contact-true targets: labelled closures touch, the rest of the sequence stays as tracked."""
import numpy as np
import pytest

from imitator.contact import ContactConfig, close_lips, lip_pairs
from imitator.data.faces import load_faces
from imitator.topology import MEDIAPIPE_468, lip_distance


@pytest.fixture(scope="module")
def template():
    return next(iter(load_faces().values()))


def _speaking(template: np.ndarray, n: int = 60) -> np.ndarray:
    """Lower lip and jaw move down by an opening that dips to a 2.5 mm residual gap at frames 20 and 45."""
    opening = 6.0 + 4.0 * np.sin(np.arange(n) / 3.0)
    opening[18:23] = [4.0, 3.0, 2.5, 3.0, 4.0]
    opening[43:48] = [4.0, 3.0, 2.5, 3.0, 4.0]
    rest = lip_distance(template[None])[0]
    pairs = lip_pairs(template)
    below = template[:, 1] < template[pairs.lower, 1].max() + 0.5
    v = np.repeat(template[None], n, 0).copy()
    v[:, below, 1] -= (opening - rest)[:, None]
    return v


def test_pairs_face_each_other(template):
    pairs = lip_pairs(template)
    assert len(pairs.upper) == len(pairs.lower) == 9
    assert (template[pairs.upper, 1] > template[pairs.lower, 1]).all()
    assert 13 in pairs.upper and 14 in pairs.lower
    assert list(pairs.upper).index(13) == list(pairs.lower).index(14)  # the midpoints are a pair


def test_lips_touch_at_closures_and_stay_far_away(template):
    v = _speaking(template)
    frames = np.array([20, 45])
    out = close_lips(v, template, frames).vertices
    before, after = lip_distance(v), lip_distance(out)
    assert before[frames].min() > 2.0
    assert after[frames].max() < 0.05
    # every facing pair touches, not just the midpoints
    pairs = lip_pairs(template)
    assert np.linalg.norm(out[20, pairs.upper] - out[20, pairs.lower], axis=-1).max() < 0.05
    # smooth in time: neighbours are partly closed, and never crossed
    assert 0 < after[19] < before[19] and 0 < after[21] < before[21]
    assert (after >= 0).all()
    far = np.r_[0:16, 25:41, 50:60]
    np.testing.assert_array_equal(out[far], v[far])


def test_correction_stays_on_the_mouth(template):
    v = _speaking(template)
    out = close_lips(v, template, np.array([20])).vertices
    moved = np.linalg.norm(out[20] - v[20], axis=-1)
    forehead = MEDIAPIPE_468.upper_face
    assert moved[forehead].max() == 0
    assert moved[MEDIAPIPE_468.rigid].max() == 0
    # the outer lip follows the inner lip (no lip folding through itself), by a bit less
    assert 0 < moved[0] <= moved[13] + 1e-6 and 0 < moved[17] <= moved[14] + 1e-6


def test_wide_gaps_are_left_as_tracked(template):
    v = _speaking(template)
    result = close_lips(v, template, np.array([20, 2]), config=ContactConfig(max_gap_mm=5.0))
    assert list(result.corrected) == [20] and list(result.left_open) == [2]
    np.testing.assert_array_equal(result.vertices[:2], v[:2])


def test_rest_in_pauses_rests_the_lower_face_in_long_pauses_only(template):
    from imitator.contact import RestConfig, closed_at_rest, rest_in_pauses

    rest = closed_at_rest(template)
    v = _speaking(template, 120)
    v[:, :, 0] += 0.5  # and the whole face a little off rest, brows included
    speech = np.ones(120, bool)
    speech[40:70] = False    # a 1 s pause
    speech[90:96] = False    # a 0.2 s breath
    out = rest_in_pauses(v, rest, speech, 30.0, config=RestConfig(min_pause_s=0.5))
    lower = template[:, 1] < template[MEDIAPIPE_468.lip_inner, 1].mean()
    upper = template[:, 1] > template[MEDIAPIPE_468.lip_inner, 1].mean() + 40  # beyond the faded region
    assert np.allclose(out[50:62][:, lower], rest[lower], atol=1e-4)  # the middle of the long pause: at rest
    assert lip_distance(out[50:62]).max() < 0.05
    assert np.array_equal(out[:40], v[:40]) and np.array_equal(out[70:], v[70:])  # speech and the breath as tracked
    assert np.array_equal(out[:, upper], v[:, upper])  # brows and eyes keep their motion
    # eased in over 0.2 s (half-way at 0.1 s) and out over 0.1 s (raised cosine): no jump at the edges
    assert np.array_equal(out[40], v[40]) and np.array_equal(out[69], v[69])
    assert np.allclose(out[43][lower], (0.5 * v[43] + 0.5 * rest)[lower], atol=1e-4)
    assert np.allclose(out[67][lower], (0.25 * v[67] + 0.75 * rest)[lower], atol=1e-4)  # 1 - (1 + cos(2pi/3)) / 2
    silent_start = rest_in_pauses(v, rest, np.r_[np.zeros(30, bool), np.ones(90, bool)], 30.0)
    assert lip_distance(silent_start[:20]).max() < 0.05  # a leading silence rests from its first frame


def test_pauses_are_the_long_quiet_runs():
    from imitator.vad import pauses

    speech = np.array([0, 0, 1, 1, 0, 0, 0, 1, 0, 1, 0, 0, 0], bool)
    assert pauses(speech, 2) == [(0, 2), (4, 7), (10, 13)]
    assert pauses(speech, 3) == [(4, 7), (10, 13)]
    assert pauses(np.ones(5, bool), 1) == []
