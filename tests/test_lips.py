"""Lip-contact labels: alignment finds the bilabials, the labeller finds the closures, weights as the
paper's, and on a synthetic corpus (true closures known) labels are right."""
import json

import numpy as np
import pytest

from imitator.audio import SAMPLE_RATE
from imitator.align import BILABIALS, SILENCE, Aligner, AlignmentError
from imitator.data.dataset import Dataset
from imitator.data.speech import Voice, espeak_available, synthesize
from imitator.data.synthetic import CorpusConfig, make_corpus, score_labels
from imitator.lips import closure_frames, contact_weights, label_dataset, label_frames, match_closures

needs_espeak = pytest.mark.skipif(not espeak_available(), reason="espeak-ng is not installed")
FPS = 30.0


def test_weights_are_the_papers_truncated_gaussian():
    w = contact_weights(np.array([5, 20]), 24)
    assert np.allclose(w[3:8], [0.135, 0.607, 1.0, 0.607, 0.135], atol=1e-3)
    assert w[:3].sum() == 0 and w[8:18].sum() == 0
    assert np.allclose(w[18:23], [0.135, 0.607, 1.0, 0.607, 0.135], atol=1e-3)
    assert list(label_frames(w)) == [5, 20]


def _curve(n, minima):
    """A lip-distance curve (mm) open at 8 mm with V-shaped dips to 0 at `minima`."""
    t = np.arange(n)
    return np.min([np.full(n, 8.0)] + [2.0 * np.abs(t - m) for m in minima], axis=0)


def test_closure_is_the_minimum_just_before_the_consonant():
    d = _curve(60, [12, 40])
    # The acoustic /b/ is aligned a little after the lips closed (frame 12 = 0.4 s): still found.
    phones = [(SILENCE, 0.0, 0.42), ("B", 0.42, 0.5), ("AA", 0.5, 1.2), ("M", 1.3, 1.4), (SILENCE, 1.4, 2.0)]
    assert list(closure_frames(d, phones, FPS)) == [12, 40]
    # A dip well after the consonant is not its closure: the label stays near the consonant.
    late = [(SILENCE, 0.0, 0.2), ("P", 0.2, 0.3), ("AA", 0.3, 2.0)]
    (frame,) = closure_frames(_curve(60, [20]), late, FPS)
    assert frame <= 13


def test_flat_contact_is_labelled_at_its_centre_once():
    d = _curve(40, [])
    d[10:16] = 0.0  # "empire": m and p share one long contact
    phones = [(SILENCE, 0.0, 0.3), ("M", 0.33, 0.43), ("P", 0.43, 0.52), (SILENCE, 0.52, 1.3)]
    assert list(closure_frames(d, phones, FPS)) == [12]


def test_window_does_not_reach_back_into_the_previous_closure():
    d = _curve(40, [10, 16])
    d[9:12] = 0.0  # a flat first closure, deeper than the second one's dip
    d[16] = 0.3
    phones = [("M", 0.3, 0.38), ("AE", 0.38, 0.5), ("P", 0.5, 0.58), (SILENCE, 0.58, 1.3)]
    assert list(closure_frames(d, phones, FPS)) == [10, 16]


def test_match_closures_counts_hits_within_tolerance():
    assert match_closures(np.array([10, 21, 30]), np.array([11, 20, 40])) == (2, 2)
    assert match_closures(np.array([]), np.array([3])) == (0, 0)


@pytest.fixture(scope="module")
def aligner():
    return Aligner()


@needs_espeak
def test_alignment_finds_the_bilabials_in_order(aligner):
    text = "Bob may pay"
    audio = np.concatenate([np.zeros(4000, np.float32), synthesize(text, Voice("en-gb-scotland", "f2", 150, 60))])
    phones = aligner.align(audio, text)
    assert [p for p, _, _ in phones if p in BILABIALS] == ["B", "B", "M", "P"]
    starts = [s for _, s, _ in phones]
    assert starts == sorted(starts) and phones[-1][2] <= len(audio) / SAMPLE_RATE + 0.01
    assert phones[0][0] == SILENCE and phones[0][2] >= 0.15  # the 0.25 s of leading silence


@needs_espeak
def test_the_shared_aligner_equals_a_fresh_one_call_after_call_and_across_threads(aligner):
    from concurrent.futures import ThreadPoolExecutor

    from imitator.align import align_shared

    clips = [(text, np.concatenate([np.zeros(3000, np.float32), synthesize(text, Voice("en-us", "m3", 160, 50))]))
             for text in ("Bob may pay", "a map of the moon", "people bring pebbles")]
    fresh = [Aligner().align(audio, text) for text, audio in clips]
    with ThreadPoolExecutor(3) as pool:  # one decoder, so calls must wait for each other
        shared = list(pool.map(lambda c: align_shared(c[1], c[0]), clips + clips))
    assert shared == fresh + fresh


def test_alignment_drops_unknown_words_and_refuses_empty_text(aligner):
    known, unknown = aligner.known_words("My zqxwv map")
    assert known == ["my", "map"] and unknown == ["zqxwv"]
    with pytest.raises(AlignmentError):
        aligner.align(np.zeros(SAMPLE_RATE, np.float32), "zqxwv 123")


@needs_espeak
def test_a_clip_cut_in_the_middle_of_its_last_word_still_aligns(aligner):
    # A selfie video trimmed mid-word: the transcript names a word whose sound is mostly missing.
    from imitator.align import words_of

    text = "Bob may pay the opportunity"
    audio = np.concatenate([np.zeros(4000, np.float32), synthesize(text, Voice("en-gb-scotland", "f2", 150, 60))])
    audio = audio[: len(audio) - SAMPLE_RATE]  # the last second ("...portunity") cut off
    with pytest.raises(AlignmentError):
        aligner._align_words(audio, words_of(text))  # no path through the whole transcript
    phones = aligner.align(audio, text)  # ... so it aligns without the last word
    assert [p for p, _, _ in phones if p in BILABIALS] == ["B", "B", "M", "P"]
    assert phones[-1][2] <= len(audio) / SAMPLE_RATE + 0.01


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    if not espeak_available():
        pytest.skip("espeak-ng is not installed")
    root = tmp_path_factory.mktemp("lips")
    make_corpus(root, CorpusConfig(n_identities=2, n_heldout_identities=0, sentences_per_identity=4,
                                   n_val_sentences=1, n_test_sentences=1, workers=1, seed=3))
    return root


@needs_espeak
def test_labels_on_synthetic_corpus_after_realigning_the_augmented_audio(corpus):
    # Realigning makes the labeller find the consonants in the degraded audio itself, not reuse the
    # timings the rig was driven by.
    report = label_dataset(corpus, realign=True)
    assert report.labelled == len(Dataset(corpus)) and not report.failed
    score = score_labels(corpus)
    assert score.true_closures >= 20
    assert score.recall >= 0.95, score.summary()
    assert score.false_rate <= 0.05, score.summary()


@needs_espeak
def test_label_dataset_transcribes_when_there_is_no_transcript(corpus, tmp_path):
    pytest.importorskip("faster_whisper")
    data = Dataset(corpus)
    info = data.infos[0]
    seq_file = corpus / "sequences" / f"{info.id}.npz"
    # A one-sequence dataset without transcript or phones, and with an extra array a converter added.
    (tmp_path / "sequences").mkdir()
    with np.load(seq_file) as z:
        np.savez(tmp_path / "sequences" / seq_file.name, **{k: z[k] for k in z.files}, extra=np.arange(3))
    index = json.loads((corpus / "index.json").read_text())
    index["sequences"] = [{**index["sequences"][0], "transcript": "", "phones": []}]
    (tmp_path / "index.json").write_text(json.dumps(index))

    report = label_dataset(tmp_path)
    assert report.transcribed == [info.id] and report.labelled == 1
    labelled = Dataset(tmp_path)
    assert labelled.infos[0].transcript and any(p[0] in BILABIALS for p in labelled.infos[0].phones)
    with np.load(tmp_path / "sequences" / seq_file.name) as z:
        assert list(z["extra"]) == [0, 1, 2]  # other arrays are kept
        labels = label_frames(z["lip_weights"])
    truth = json.loads((corpus / "synthetic.json").read_text())["sequences"][info.id]["closure_frames"]
    found, correct = match_closures(labels, np.array(truth))
    assert found >= 0.8 * len(truth) and correct >= 0.8 * len(labels)
