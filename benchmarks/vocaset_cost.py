"""What the VOCASET protocol (imitator import-vocaset + reproduce-paper) costs: measured at fixture scale,
and extrapolated to the full VOCASET from per-unit costs measured at its real sizes.

    OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.vocaset_cost [--fixture-epochs 2] [--repeats 3] [--units-only]

Part 1 runs the real commands' functions on a small fixture in the released layout (tests/vocaset_fixture.py:
5 subjects x 3 sentences of 4 s). Part 2 times one unit of each stage at VOCASET's sizes (5023 vertices,
4 s sentences = 120 frames at 30 fps; default model size; whisper-tiny.en features) and multiplies by the
counts of the full protocol: 12 subjects x 40 sentences, 8 x 40 training sequences, 2 x 20 validation
sequences per epoch, 300 epochs, 2 test subjects x (1 + 4 references) adaptations of 2 x 300 steps, 2 x 20
test sentences x 3 rows. Prints Markdown.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import best_of, machine

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the fixture writer

FRAMES, SECONDS, V = 120, 4.0, 5023
# Unit costs count this process's CPU time (one thread): on this shared 2-core machine, wall time depends
# on what else runs; CPU time is close to the wall time on an idle core.
CLOCK = time.process_time
FULL = {"sequences": 480, "train_seqs": 320, "val_seqs": 40, "epochs": 300, "test_seqs": 40,
        "test_subjects": 2, "references": (1, 4), "adapt_steps": 600, "rows": 3}


def fixture_run(work: Path, epochs: int) -> dict[str, float]:
    from vocaset_fixture import SUBJECTS, write_flame_files, write_released

    from imitator.adapt import AdaptConfig
    from imitator.data.vocaset import VocasetConfig, convert_vocaset
    from imitator.paper import ProtocolConfig, reproduce_paper

    subjects = (SUBJECTS[0], SUBJECTS[1], SUBJECTS[8], SUBJECTS[10], SUBJECTS[11])
    mesh = write_released(work / "vocaset", subjects, (1, 2, 21), seconds=SECONDS)
    ply, _, masks = write_flame_files(work / "flame", mesh)
    t, cpu = time.perf_counter(), CLOCK()
    report = convert_vocaset(work / "vocaset", work / "data", VocasetConfig(str(ply), str(masks)))
    convert = time.perf_counter() - t
    result = reproduce_paper(ProtocolConfig(str(work / "data"), str(work / "paper"), epochs=epochs,
                                            references=(1, 2), adapt=AdaptConfig(), progress=False),
                             log=lambda _: None)
    return {"sequences": sum(report.sequences.values()), "convert": convert, **result.seconds,
            "cpu": CLOCK() - cpu, "table": result.table()}


def unit_costs(repeats: int) -> dict[str, float]:
    from imitator.adapt import AdaptConfig, adapt
    from imitator.encoders import build_encoder, resample_features
    from imitator.metrics import evaluate_sequence
    from imitator.losses import LossWeights, imitator_loss
    from imitator.model import Imitator, ModelConfig
    from imitator.flame import flame_topology

    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal(int(SECONDS * 16000))).astype(np.float32)
    encoder = build_encoder("whisper-tiny.en")
    costs = {"features": best_of(lambda: encoder.encode(audio), repeats, CLOCK)}
    feats = resample_features(encoder.encode(audio), FRAMES)[None]
    model = Imitator(ModelConfig(n_vertices=V, style_names=tuple(f"s{i}" for i in range(8)),
                                 audio_dim=encoder.dim), template=torch.zeros(V, 3))
    target = torch.randn(1, FRAMES, V, 3)
    weights = torch.zeros(1, FRAMES)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def train_step():
        pred = model(feats, style=torch.tensor([0]))
        loss, _ = imitator_loss(pred, target, weights, LossWeights(1.0, 10.0, 5.0))
        opt.zero_grad()
        loss.backward()
        opt.step()

    costs["train_step"] = best_of(train_step, repeats, CLOCK)
    costs["train_step_ops"] = leaf_ops(train_step)

    def train_step_batch8():  # the trainer's --batch-size 8: the same per-op overhead for 8 sequences
        pred = model(feats.expand(8, -1, -1), style=torch.arange(8))
        loss, _ = imitator_loss(pred, target.expand(8, -1, -1, -1), weights.expand(8, -1), LossWeights(1.0, 10.0, 5.0))
        opt.zero_grad()
        loss.backward()
        opt.step()

    costs["train_step_batch8"] = best_of(train_step_batch8, repeats, CLOCK)

    def forward():
        with torch.no_grad():
            model(feats, style=None)

    costs["forward"] = best_of(forward, repeats, CLOCK)
    refs = [target[0].numpy()] * 4
    steps = 40
    config = AdaptConfig(stage1_steps=steps // 2, stage2_steps=steps // 2, patience=10 ** 6)
    t = CLOCK()  # adapt() encodes the references with the model's encoder (whisper-tiny.en)
    adapt(model, [audio] * 4, refs, np.zeros((V, 3), np.float32), config)
    costs["adapt_step_4refs"] = (CLOCK() - t - 4 * costs["features"]) / steps
    # metric cost depends on V and T (and barely on the lip set: 250 vertices here)
    topology = flame_topology(np.array([[0, 1, 2]]), {"lips": np.arange(3400, 3650), "forehead": np.arange(1500)})
    pred, ref = rng.standard_normal((FRAMES, V, 3)), rng.standard_normal((FRAMES, V, 3))
    costs["metrics"] = best_of(lambda: evaluate_sequence(pred, ref, np.zeros((V, 3)), topology, []), repeats, CLOCK)
    return costs


def leaf_ops(fn) -> int:
    """How many innermost aten operators one call runs: on a GPU each is (at least) one kernel launch, and
    with a 64-wide model nearly all are too small to keep a GPU busy, so their count bounds the GPU time."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    return sum(1 for e in prof.events() if e.name.startswith("aten::") and not e.cpu_children)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fixture-epochs", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--units-only", action="store_true", help="skip the fixture run (and the conversion estimate)")
    args = p.parse_args()
    print(f"Machine: {machine()}; load average {os.getloadavg()[0]:.1f} at the start\n")
    fx = None
    if not args.units_only:
        work = Path(tempfile.mkdtemp(prefix="vocaset_cost_"))
        try:
            fx = fixture_run(work, args.fixture_epochs)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print_fixture(fx, args.fixture_epochs)
    u = unit_costs(args.repeats)
    print(f"## Unit costs at VOCASET sizes ({V} vertices, {FRAMES} frames = {SECONDS:g} s; CPU seconds)\n")
    print("| unit | value |\n|---|---|")
    for k, v in u.items():
        print(f"| {k} | {v:.3f} |" if isinstance(v, float) else f"| {k} | {v} |")
    refs_per_subject = sum(FULL["references"])
    full = {} if fx is None else {"convert (480 sequences)": FULL["sequences"] * fx["convert"] / fx["sequences"]}
    full |= {
        "audio features (once, cached)": FULL["sequences"] * u["features"],
        "train (300 epochs x 320 steps + 40 validation passes)":
            FULL["epochs"] * (FULL["train_seqs"] * u["train_step"] + FULL["val_seqs"] * u["forward"]),
        "train with --batch-size 8 instead (not the paper's batch 1)":
            FULL["epochs"] * (FULL["train_seqs"] / 8 * u["train_step_batch8"] + FULL["val_seqs"] * u["forward"]),
        "adapt (2 subjects x (1 + 4 references), 600 steps)":
            FULL["test_subjects"] * FULL["adapt_steps"] * u["adapt_step_4refs"] * refs_per_subject / 4,
        "evaluate (40 test sequences x 3 rows)": FULL["test_seqs"] * FULL["rows"] * (u["forward"] + u["metrics"]),
    }
    print(f"\n## Full VOCASET protocol on this CPU, extrapolated ({torch.get_num_threads()} thread)\n")
    print("| stage | hours |\n|---|---|")
    for k, v in full.items():
        print(f"| {k} | {v / 3600:.2f} |")
    batch1 = sum(v for k, v in full.items() if "batch-size 8" not in k)
    print(f"| total (batch 1) | {batch1 / 3600:.1f} |")


def print_fixture(fx: dict, epochs: int) -> None:
    print(f"## Fixture scale ({fx['sequences']} sequences of {SECONDS:g} s, {epochs} epochs, "
          "whisper-tiny.en, adaptation 2 x 300 steps with early stopping)\n")
    print("| stage | wall seconds |\n|---|---|")
    for k in ("convert", "train", "adapt", "evaluate"):
        print(f"| {k} | {fx[k]:.1f} |")
    print(f"\nWall seconds above; the whole run used {fx['cpu']:.0f} CPU seconds.")
    print("\n" + fx["table"] + "\n")


if __name__ == "__main__":
    main()
