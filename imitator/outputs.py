"""Where a server's results go, and how long they stay: every request writes into its own folder under one
root, and each new folder first removes the old ones, so disk use is bounded by what is kept.

    out = new_output_dir("anim")        # a fresh folder; old ones beyond the retention are deleted

A folder is kept while it is among the newest `keep_last` AND younger than `max_minutes`: both bound the
disk (keep_last under load, max_minutes when idle). Environment variables:
    IMITATOR_OUTPUT_DIR          root folder (default: <system temp>/imitator-outputs)
    IMITATOR_KEEP_OUTPUTS        newest folders kept (default 64)
    IMITATOR_OUTPUT_MINUTES      minutes a folder is kept (default 60)
The app also gives Gradio's own cache copies the same age limit (`gradio_delete_cache`).
"""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from .limits import LimitsConfigError

_PREFIX = "imitator-"
_LOCK = threading.Lock()  # one sweep at a time within a process; sweeps in two processes are harmless


@dataclass(frozen=True)
class OutputRetention:
    keep_last: int = 64
    max_minutes: float = 60.0

    @classmethod
    def from_env(cls, env: dict | None = None) -> "OutputRetention":
        env = os.environ if env is None else env
        keep, minutes = env.get("IMITATOR_KEEP_OUTPUTS"), env.get("IMITATOR_OUTPUT_MINUTES")
        try:
            values = cls(int(keep) if keep else cls.keep_last, float(minutes) if minutes else cls.max_minutes)
        except ValueError as e:
            raise LimitsConfigError(f"IMITATOR_KEEP_OUTPUTS / IMITATOR_OUTPUT_MINUTES: {e}") from e
        if values.keep_last < 1 or not values.max_minutes > 0:
            raise LimitsConfigError("IMITATOR_KEEP_OUTPUTS must be >= 1 and IMITATOR_OUTPUT_MINUTES > 0")
        return values

    def gradio_delete_cache(self) -> tuple[int, int]:
        """Gradio's (frequency, age) in seconds for its cache copies of our outputs."""
        age = int(self.max_minutes * 60)
        return max(60, age // 4), age


def output_root() -> Path:
    return Path(os.environ.get("IMITATOR_OUTPUT_DIR") or Path(tempfile.gettempdir()) / "imitator-outputs")


def new_output_dir(kind: str, root: str | os.PathLike | None = None,
                   retention: OutputRetention | None = None) -> Path:
    """A fresh, private folder for one request's results, after removing expired ones."""
    root = Path(root) if root is not None else output_root()
    root.mkdir(parents=True, exist_ok=True)
    clean_outputs(root, retention or OutputRetention.from_env(), keep_slot=True)
    return Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{kind}-", dir=root))


def clean_outputs(root: str | os.PathLike | None = None, retention: OutputRetention | None = None,
                  keep_slot: bool = False) -> int:
    """Delete result folders beyond the newest keep_last (one fewer with keep_slot, making room for a new
    one) or older than max_minutes. Returns how many were deleted."""
    root = Path(root) if root is not None else output_root()
    retention = retention or OutputRetention.from_env()
    with _LOCK:
        folders = []
        for p in root.glob(f"{_PREFIX}*"):
            try:
                folders.append((p.stat().st_mtime, p))
            except FileNotFoundError:
                continue
        folders.sort(reverse=True)
        keep = retention.keep_last - (1 if keep_slot else 0)
        cutoff = time.time() - retention.max_minutes * 60
        removed = 0
        for i, (mtime, path) in enumerate(folders):
            if i >= keep or mtime < cutoff:
                shutil.rmtree(path, ignore_errors=True)
                removed += 1
        return removed
