"""Issue 15: 200 seeded mutants of wav, mp3 and mp4 files, each fed to the loaders an upload reaches, in one
subprocess whose address space is capped at its size after imports + 1 GB. No crash, no hang (each call
under 10 s, the whole run under a wall-clock limit), no exception that is not an ImitatorError, no
MemoryError. About 30 s on a quiet 2-core machine."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_media_fuzz_finds_no_crash_hang_or_foreign_exception(tmp_path):
    # RLIMIT_AS caps address space, not memory: glibc reserves 64 MB of address space per thread arena, and
    # the texture step's OpenCV threads then hit the cap with little memory in use. Two arenas keep the cap
    # a measure of memory.
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2"}
    out = subprocess.run([sys.executable, str(ROOT / "tests" / "fuzz_media.py"), str(tmp_path), "--seed", "0",
                          "--mutants", "200", "--budget-mb", "1024"],
                         capture_output=True, text=True, timeout=240, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    calls, summary = rows[:-1], rows[-1]
    assert len({r["file"] for r in calls}) == 200
    foreign = [r for r in calls if not r["project_error"]]
    assert not foreign, foreign
    slow = [r for r in calls if r["seconds"] > 10]
    assert not slow, slow
    assert summary["peak_rss_mb"] < summary["cap_mb"]
    print(f"fuzz: {len(calls)} calls, outcomes {sorted({r['outcome'] for r in calls})}, "
          f"peak RSS {summary['peak_rss_mb']} MB, slowest {max(r['seconds'] for r in calls):.2f} s")
