"""Build-once caches that are safe under threads: the app serves requests on several threads, and two
requests right after start must not both build (or half-import) the same encoder or model.

    @cached_once
    def encoder(name): ...          # first caller per key builds; concurrent callers wait for it

functools.lru_cache is not enough: it does not lock around the call, so concurrent first calls each build
their own copy, and a library's lazy imports running in two threads at once can fail (transformers raised
"cannot import name 'WhisperFeatureExtractor'" that way). A failed build is not cached; the next call retries.
"""
from __future__ import annotations

import functools
import threading
from typing import Callable, TypeVar

T = TypeVar("T")

_IMPORT_LOCK = threading.RLock()  # one for every builder: their imports touch shared module state


def cached_once(build: Callable[..., T]) -> Callable[..., T]:
    values: dict = {}

    @functools.wraps(build)
    def get(*args):
        try:
            return values[args]
        except KeyError:
            pass
        with _IMPORT_LOCK:
            if args not in values:
                values[args] = build(*args)
            return values[args]

    get.cache_clear = values.clear  # type: ignore[attr-defined]
    return get
