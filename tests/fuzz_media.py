"""Seeded media fuzzer (run by tests/test_fuzz.py in a memory-capped subprocess, or by hand):

    python tests/fuzz_media.py OUT_DIR [--seed 0] [--mutants 200] [--budget-mb 1024]

Writes three small valid seeds (wav, mp3, mp4 with a face-less picture and a tone), derives mutants from
them (bit flips, magic values at header offsets, truncation, duplicated and deleted chunks), feeds each to
the loader a user upload reaches (load_audio for all, track_video for mp4), and prints one JSON line per
mutant: its file, the outcome (ok, or the exception class and whether it is an ImitatorError) and seconds.
The address space is capped at the size after imports plus --budget-mb, so a runaway allocation is a
MemoryError here, not a dead machine."""
from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

import numpy as np

INTERESTING = [b"\x00", b"\xff", b"\x7f", b"\x80", b"\xff\xff\xff\x7f", b"\x00\x00\x00\x80", b"\x01\x00\x00\x00",
               b"\xff\xff\xff\xff", b"\x00\x00\x00\x00"]


def make_seeds(folder: Path) -> dict[str, Path]:
    import av
    import soundfile as sf

    from imitator.audio import SAMPLE_RATE

    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    tone = (0.3 * np.sin(2 * np.pi * 220 * t) * np.sin(2 * np.pi * 3 * t) ** 2).astype(np.float32)
    seeds = {"wav": folder / "seed.wav", "mp3": folder / "seed.mp3", "mp4": folder / "seed.mp4"}
    sf.write(seeds["wav"], tone, SAMPLE_RATE)
    sf.write(seeds["mp3"], tone, SAMPLE_RATE, format="MP3")
    with av.open(str(seeds["mp4"]), "w", options={"movflags": "+faststart"}) as out:
        vs = out.add_stream("libx264", rate=25)
        vs.width, vs.height, vs.pix_fmt = 64, 64, "yuv420p"
        aus = out.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
        rng = np.random.default_rng(0)
        for i in range(30):
            img = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
            out.mux(vs.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        for start in range(0, SAMPLE_RATE * 6 // 5, 1024):
            chunk = tone[None, start % SAMPLE_RATE:start % SAMPLE_RATE + 1024].copy()
            af = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
            af.sample_rate, af.pts = SAMPLE_RATE, start
            out.mux(aus.encode(af))
        out.mux(vs.encode(None))
        out.mux(aus.encode(None))
    return seeds


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    b = bytearray(data)
    for _ in range(int(rng.integers(1, 4))):
        op = rng.integers(0, 5)
        # Headers hold the lengths, rates and counts that matter: aim half of the edits at the first 128 bytes.
        pos = int(rng.integers(0, min(128, len(b)))) if rng.random() < 0.5 else int(rng.integers(0, len(b)))
        if op == 0:  # bit flips
            for _ in range(int(rng.integers(1, 9))):
                p = int(rng.integers(0, len(b)))
                b[p] ^= 1 << int(rng.integers(0, 8))
        elif op == 1:  # a magic value
            v = INTERESTING[int(rng.integers(0, len(INTERESTING)))]
            b[pos:pos + len(v)] = v
        elif op == 2:  # truncation
            b = b[:max(1, int(len(b) * rng.uniform(0.05, 0.95)))]
        elif op == 3:  # a chunk repeated
            n = int(rng.integers(1, 4096))
            b[pos:pos] = b[pos:pos + n] * int(rng.integers(1, 4))
        else:  # a chunk deleted
            del b[pos:pos + int(rng.integers(1, 4096))]
    return bytes(b)


def _vm_bytes() -> int:
    for line in open("/proc/self/status"):
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--mutants", type=int, default=200)
    ap.add_argument("--budget-mb", type=int, default=1024)
    args = ap.parse_args()
    from imitator.audio import load_audio
    from imitator.errors import ImitatorError
    from imitator.tracking import track_video

    import mediapipe  # noqa: F401 (imported before the cap: its libraries map large address ranges)

    folder = Path(args.out)
    folder.mkdir(parents=True, exist_ok=True)
    seeds = make_seeds(folder)
    cap = _vm_bytes() + args.budget_mb * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    rng = np.random.default_rng(args.seed)
    kinds = list(seeds)
    for i in range(args.mutants):
        kind = kinds[i % len(kinds)]
        path = folder / f"mutant{i:03d}.{kind}"
        path.write_bytes(mutate(seeds[kind].read_bytes(), rng))
        calls = [("load_audio", load_audio)] + ([("track_video", track_video)] if kind == "mp4" else [])
        for what, fn in calls:
            start = time.perf_counter()
            try:
                fn(path)
                outcome, project = "ok", True
            except ImitatorError as e:
                outcome, project = type(e).__name__, True
            except MemoryError:
                outcome, project = "MemoryError", False
            except Exception as e:  # noqa: BLE001 (the fuzzer's job: report anything that is not ours)
                outcome, project = f"{type(e).__name__}: {str(e)[:200]}", False
            print(json.dumps({"file": path.name, "call": what, "outcome": outcome, "project_error": project,
                              "seconds": round(time.perf_counter() - start, 3)}), flush=True)
        path.unlink()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"peak_rss_mb": round(peak / 2**20, 1), "cap_mb": round(cap / 2**20)}), flush=True)


if __name__ == "__main__":
    main()
