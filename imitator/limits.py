"""What one request may cost: caps on upload size, audio length, video length and frame size.

Every cap is decided from what the file says about itself (its size on disk, its header's duration and
sample rate, its frame size) BEFORE anything is decoded or resampled, and enforced again while decoding
(a header can lie), so memory and time per request stay bounded whatever is uploaded.

    limits = Limits.from_env()        # defaults below, each overridable by an environment variable
    check_upload(path, limits)        # UploadTooLargeError before anything reads the file

Environment variables (read on every call, so a server picks up a change on restart and tests can set them):
    IMITATOR_MAX_UPLOAD_MB         100    any uploaded file (audio, video, tracked .npz)
    IMITATOR_MAX_AUDIO_SECONDS     300    speech to animate (also the audio decoded from a video)
    IMITATOR_MAX_VIDEO_SECONDS     120    a video to create a style from
    IMITATOR_MAX_VIDEO_PIXELS      9000000  width x height of one video frame (4K UHD is 8.3 M)
"""
from __future__ import annotations

import os
from dataclasses import dataclass, fields

from .errors import ImitatorError, UploadTooLargeError


class LimitsConfigError(ImitatorError):
    """An IMITATOR_MAX_* environment variable that is not a positive number."""


@dataclass(frozen=True)
class Limits:
    max_upload_mb: float = 100.0
    max_audio_seconds: float = 300.0
    max_video_seconds: float = 120.0
    max_video_pixels: int = 9_000_000

    @classmethod
    def from_env(cls, env: dict | None = None) -> "Limits":
        env = os.environ if env is None else env
        values = {}
        for f in fields(cls):
            raw = env.get(f"IMITATOR_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            try:
                value = float(raw)
            except ValueError:
                value = float("nan")
            if not value > 0 or value == float("inf"):
                raise LimitsConfigError(f"IMITATOR_{f.name.upper()}={raw!r}: expected a positive number")
            values[f.name] = int(value) if f.type in (int, "int") else value
        return cls(**values)

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)


def current() -> Limits:
    return Limits.from_env()


def check_upload(path: str | os.PathLike, limits: Limits | None = None) -> None:
    """Refuse a file larger than the upload cap, from its size on disk (nothing is read)."""
    limits = limits or current()
    size = os.path.getsize(path)
    if size > limits.max_upload_bytes:
        raise UploadTooLargeError(f"{os.path.basename(os.fspath(path))} is {size / 2**20:.1f} MB; the limit is "
                                  f"{limits.max_upload_mb:g} MB (IMITATOR_MAX_UPLOAD_MB)")
