"""Load test: N concurrent /animate requests against the app on 127.0.0.1, through gradio_client.

Starts app.py in a subprocess (temporary style and output folders, the bundled model), waits until it
serves, warms it with one request, then submits N requests at once from N clients and reports the
latency percentiles (submit -> mp4 ready) and the server's peak resident memory (VmHWM of its process).

    .venv/bin/python benchmarks/load_app.py [--requests 16] [--audio examples/bob_bought_a_map.flac]
"""
from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np

from common import machine

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _status_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=16)
    ap.add_argument("--audio", default=str(ROOT / "examples" / "bob_bought_a_map.flac"))
    args = ap.parse_args()
    from gradio_client import Client, handle_file

    tmp = Path(tempfile.mkdtemp(prefix="imitator-load-"))
    port = _free_port()
    env = {**os.environ, "IMITATOR_STYLE_DIR": str(tmp / "styles"), "IMITATOR_OUTPUT_DIR": str(tmp / "outputs"),
           "GRADIO_TEMP_DIR": str(tmp / "gradio"), "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    log = open(tmp / "server.log", "w")
    server = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port)], cwd=ROOT, env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + 180
        while True:
            if server.poll() is not None or time.time() > deadline:
                raise SystemExit(f"app.py did not start: {(tmp / 'server.log').read_text()[-2000:]}")
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        audio = handle_file(args.audio)
        Client(url, verbose=False).predict(audio, "generic (no style)", False, api_name="/animate")  # warm-up
        rss_after_warmup = _status_kb(server.pid, "VmRSS") / 1024

        clients = [Client(url, verbose=False) for _ in range(args.requests)]
        latencies, errors = [None] * args.requests, []
        start = threading.Barrier(args.requests)

        def one(i: int) -> None:
            start.wait()
            t0 = time.perf_counter()
            try:
                clients[i].predict(audio, "generic (no style)", False, api_name="/animate")
                latencies[i] = time.perf_counter() - t0
            except Exception as e:  # noqa: BLE001 (a failed request is a result of the load test)
                errors.append(repr(e)[:200])

        wall = time.perf_counter()
        threads = [threading.Thread(target=one, args=(i,)) for i in range(args.requests)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - wall
        peak = _status_kb(server.pid, "VmHWM") / 1024
        kept = len(list((tmp / "outputs").glob("imitator-anim-*")))
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    done = np.array([x for x in latencies if x is not None])
    seconds = _duration(args.audio)
    print(f"machine: {machine()} (shared with other jobs while measured)")
    print(f"{args.requests} concurrent /animate requests, {seconds:.2f} s of speech each, app queue concurrency 2")
    print("| requests ok | errors | p50 s | p90 s | p99 s | max s | wall s | server peak RSS MB | RSS after warm-up MB "
          "| result folders kept |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    p50, p90, p99, top = np.percentile(done, [50, 90, 99, 100]) if len(done) else [float("nan")] * 4
    print(f"| {len(done)} | {len(errors)} | {p50:.1f} | {p90:.1f} | {p99:.1f} | {top:.1f} | {wall:.1f} | {peak:.0f} "
          f"| {rss_after_warmup:.0f} | {kept} |")
    for e in errors:
        print("error:", e)


def _duration(path: str) -> float:
    import soundfile as sf

    info = sf.info(path)
    return info.frames / info.samplerate


if __name__ == "__main__":
    main()
