"""Reading the pickles that VOCASET and FLAME ship (templates.pkl, raw_audio_fixed.pkl, subj_seq_to_idx.pkl,
FLAME_masks.pkl), and nothing else.

These are the user's own licensed files, read on their command line; the app never calls this (uploads are
never unpickled). Even so the unpickler only rebuilds dicts, lists, numbers, strings and numpy arrays: a
pickle that asks for any other class is refused instead of run. The files were written by Python 2, hence
latin1 for their byte strings.
"""
from __future__ import annotations

import logging
import os
import pickle

from ..errors import DataPickleError

log = logging.getLogger("imitator")

_ALLOWED = {
    ("collections", "OrderedDict"), ("collections", "defaultdict"),
    ("numpy", "ndarray"), ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("builtins", "dict"), ("builtins", "list"), ("builtins", "tuple"), ("builtins", "set"),
    ("builtins", "bytearray"), ("__builtin__", "dict"), ("__builtin__", "list"), ("copy_reg", "_reconstructor"),
    ("copyreg", "_reconstructor"), ("__builtin__", "object"), ("builtins", "object"),
    ("_codecs", "encode"),  # how protocol-2 pickles written by Python 3 store array bytes
}


class _DataUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise DataPickleError(f"refusing to load {module}.{name}: only plain data (dicts, numpy arrays) "
                                  "is read from dataset pickles")
        return super().find_class(module, name)


def read_data_pickle(path: str | os.PathLike):
    """The contents of one of the user's own dataset pickles (plain data only), with a one-line warning."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no such file: {path}")
    log.warning("reading pickle %s (your own licensed file; only plain data is accepted)", path)
    with open(path, "rb") as f:
        try:
            return _DataUnpickler(f, encoding="latin1").load()
        except (pickle.UnpicklingError, EOFError, ValueError) as e:
            if isinstance(e, DataPickleError):
                raise
            raise DataPickleError(f"{path} is not a readable pickle ({e})") from e
