"""The synthetic corpus: sentences, speech + alignment, the viseme rig and speaking styles, the written
dataset (format, true lip contacts, reproducibility)."""
from dataclasses import replace

import numpy as np
import pytest

from imitator.audio import SAMPLE_RATE
from imitator.align import BILABIALS, SILENCE, Aligner
from imitator.data.dataset import Dataset
from imitator.data.faces import load_faces
from imitator.data.rig import VisemeRig
from imitator.data.speech import espeak_available
from imitator.data.speaker import SpeakerTraits
from imitator.data.synthetic import CorpusConfig, load_sentences, load_truth, make_corpus
from imitator.data.articulation import articulate
from imitator.topology import MEDIAPIPE_468 as TOPO, lip_distance

needs_espeak = pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")
TINY = CorpusConfig(n_identities=2, n_heldout_identities=1, sentences_per_identity=3,
                    heldout_sentences_per_identity=3, n_val_sentences=1, n_test_sentences=1, workers=1, seed=7)
ARPABET = set("AA AE AH AO AW AY B CH D DH EH ER EY F G HH IH IY JH K L M N NG OW OY P R S SH T TH UH UW V W "
              "Y Z ZH".split())

# A hand-made alignment of "a map, you see" with a pause: AH M AE P | Y UW S IY
PHONES = [(SILENCE, 0.0, 0.3), ("AH", 0.3, 0.38), ("M", 0.38, 0.46), ("AE", 0.46, 0.6), ("P", 0.6, 0.7),
          (SILENCE, 0.7, 1.0), ("Y", 1.0, 1.06), ("UW", 1.06, 1.3), ("S", 1.3, 1.42), ("IY", 1.42, 1.6),
          (SILENCE, 1.6, 2.0)]
FPS = 30.0
N = 60


def _frame(t):
    return int(round(t * FPS))


@pytest.fixture(scope="module")
def rig():
    return VisemeRig(next(iter(load_faces().values())))


def _animate(rig, style, seed=0):
    art = articulate(PHONES, N, FPS, replace(style, jitter=0.0), np.random.default_rng(seed))
    return art, rig.animate(art, style)


def _bilabial_counts(aligner: Aligner, sentences: list[str]) -> tuple[list[int], set[str]]:
    phones, bilabials = set(), []
    for s in sentences:
        known, unknown = aligner.known_words(s)
        assert not unknown, f"not in the pronunciation dictionary: {unknown} ({s})"
        flat = [p for w in known for p in aligner._decoder.lookup_word(w).split()]
        phones.update(flat)
        bilabials.append(sum(p in BILABIALS for p in flat))
    return bilabials, phones


def test_sentences_cover_english_and_are_rich_in_bilabials():
    aligner = Aligner()
    sentences = load_sentences()
    assert len(sentences) >= 60
    bilabials, phones = _bilabial_counts(aligner, sentences)
    assert ARPABET <= phones, ARPABET - phones
    assert min(bilabials) >= 1 and np.mean(bilabials) >= 3
    # The training-only pool: new sentences (none repeats an evaluation one), mostly bilabial-rich.
    extra = load_sentences("training_sentences.txt")
    assert len(extra) >= 150 and not set(extra) & set(sentences) and len(set(extra)) == len(extra)
    extra_bilabials, _ = _bilabial_counts(aligner, extra)
    assert np.mean(extra_bilabials) >= 2


def test_rig_lips_touch_exactly_on_closures_and_open_for_vowels(rig):
    art, v = _animate(rig, SpeakerTraits(jaw=1.4, rest_gap_mm=2.5))
    d = lip_distance(v)
    assert lip_distance(rig.neutral) < 1e-3  # the template's lips touch
    assert len(art.closure_frames) == 2  # m and p of "map" are two contacts (a vowel between)
    assert np.all(d[art.closure_frames] < 1e-3)
    assert d[_frame(0.53)] > 5.0  # the open vowel of "map"
    assert 2.0 < d[3] < 3.3  # rest before speech: the style's small gap


def test_rig_motion_is_smooth_and_anticipates(rig):
    art, v = _animate(rig, SpeakerTraits())
    speed = np.linalg.norm(np.diff(v[:, TOPO.lip_vertices], axis=0), axis=-1).max()
    assert speed < 6.0  # mm per frame (30 fps): no jumps
    # Rounding of the /u/ in "you" already shows on the /j/ before it (anticipatory coarticulation) ...
    assert art.round[_frame(1.06) - 1] > 0.25
    # ... and the lips close before the acoustic /m/ starts (the style's lead plus the closing ramp).
    assert art.closure[_frame(0.38) - 1] > 0.3


def test_labiodental_lifts_the_lower_lip(rig):
    phones = [(SILENCE, 0.0, 0.3), ("AA", 0.3, 0.5), ("F", 0.5, 0.65), ("AA", 0.65, 0.85), (SILENCE, 0.85, 1.2)]
    art = articulate(phones, 36, FPS, SpeakerTraits(jitter=0.0), np.random.default_rng(0))
    d = lip_distance(rig.animate(art, SpeakerTraits()))
    assert d[_frame(0.575)] < 0.6 * min(d[_frame(0.4)], d[_frame(0.75)])
    assert d[_frame(0.575)] > 1.0  # the lips do not close on f


def test_styles_differ_measurably(rig):
    def measures(style):
        _, v = _animate(rig, style)
        rel = v - rig.neutral
        left, right = TOPO.lip_outer[np.argmax(rig.neutral[TOPO.lip_outer, 0])], TOPO.lip_outer[np.argmin(rig.neutral[TOPO.lip_outer, 0])]
        mid = TOPO.upper_lip_mid[0]
        return {"opening": lip_distance(v).mean(),
                "asymmetry": np.linalg.norm(rel[:, left], axis=-1).mean() / np.linalg.norm(rel[:, right], axis=-1).mean(),
                "protrusion": rel[_frame(1.2), mid, 2],
                "smile": rel[:, [left, right], 1].mean()}

    base = measures(SpeakerTraits())
    assert measures(SpeakerTraits(jaw=1.5))["opening"] > 1.3 * base["opening"]
    assert measures(SpeakerTraits(asymmetry=0.4))["asymmetry"] > 1.3 * base["asymmetry"]
    assert measures(SpeakerTraits(protrusion=1.6))["protrusion"] > base["protrusion"] + 2.0
    assert measures(SpeakerTraits(smile=0.8))["smile"] > base["smile"] + 1.5


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    root = tmp_path_factory.mktemp("corpus")
    report = make_corpus(root, TINY)
    return root, report


@needs_espeak
def test_corpus_format_splits_and_true_closures(tiny):
    root, report = tiny
    data = Dataset(root)
    truth = load_truth(root)
    assert report.sequences + len(report.skipped) == 6 and report.sequences >= 5
    assert len(data.identities()) == 2
    heldout = [n for n, i in truth["identities"].items() if i["heldout"]]
    assert len(heldout) == 1
    assert {i.split for i in data.select(identities=heldout)} == {"test"}
    assert {i.split for i in data.infos if i.identity not in heldout} == {"train", "val", "test"}
    for info in data.infos:
        seq = data.load(info)
        assert seq.audio.dtype == np.float32 and seq.vertices.shape[1:] == (468, 3)
        assert abs(len(seq.vertices) - len(seq.audio) / SAMPLE_RATE * FPS) <= 1
        closures = np.array(truth["sequences"][info.id]["closure_frames"], dtype=int)
        d = lip_distance(seq.vertices)
        assert d.max() > 4.0  # the mouth opens in speech
        if any(p[0] in BILABIALS for p in info.phones):
            assert len(closures) >= 1 and np.all(d[closures] < 1e-3)  # lips really touch
            assert np.isclose(seq.lip_weights.max(), 1.0)  # labelled by imitator.lips
        else:  # a training sentence without m, b or p: no closure, no label
            assert len(closures) == 0 and seq.lip_weights.max() == 0


@needs_espeak
def test_corpus_is_reproducible_whatever_the_worker_count(tiny, tmp_path):
    root, _ = tiny
    make_corpus(tmp_path / "again", replace(TINY, workers=2))
    a, b = Dataset(root), Dataset(tmp_path / "again")
    assert [i.id for i in a.infos] == [i.id for i in b.infos]
    for ia, ib in zip(a.infos, b.infos):
        assert ia == ib
        sa, sb = a.load(ia), b.load(ib)
        assert np.array_equal(sa.audio, sb.audio) and np.array_equal(sa.vertices, sb.vertices)
        assert np.array_equal(sa.lip_weights, sb.lip_weights)


@needs_espeak
def test_another_seed_gives_another_corpus(tiny, tmp_path):
    root, _ = tiny
    make_corpus(tmp_path / "other", replace(TINY, seed=8, n_identities=1, n_heldout_identities=0))
    a, b = Dataset(root).load(Dataset(root).infos[0]), Dataset(tmp_path / "other").load(Dataset(tmp_path / "other").infos[0])
    assert not np.array_equal(a.template, b.template)
