"""Where styles are kept: saving, listing, loading, renaming and deleting them, safely under concurrency.

Layout. A style folder holds one directory per style, named from the style's name by `file_stem` (an ASCII
slug plus a hash of the case-folded name, so no name can reach outside the folder or collide on a
case-insensitive disk):

    ada-3f2c9e1b0a4d.style/
        v00001732456789123456789-8c1f/      one published version: both files, written together
            style.safetensors               template (V, 3) mm, style (d,), optionally basis_weight_delta
                                            (3V, d) + basis_bias_delta (3V,) and texture (H, W, 3) uint8
            style.json                      name, description, created, source, model_id, fit
        .tmp-9d3a.../                       a version being written (or left by a crashed writer)

Why versions: a save writes both files into a fresh temporary directory and publishes it with one atomic
rename, so a reader sees the old pair or the new pair, never one file of each, and a crash (even SIGKILL)
leaves at worst a temporary directory, which the next save of that style removes. Writers of one style
take an exclusive lock (flock; released by the OS if the process dies), so "save unless it exists" is
decided once. Readers take no lock: they read the newest version and retry if a writer removed it.

Older layouts (NAME.json + NAME.safetensors side by side, e.g. hand-copied styles) are still read.

Owners. owner=None is the local user's own folder ($IMITATOR_STYLE_DIR, default
~/.local/share/imitator/styles), as the CLI uses. The app gives each browser session a random owner
token (`new_owner`), whose styles live in a subfolder that only that token reaches, so users cannot
overwrite or see each other's styles. Preset names (case-insensitive) always mean the preset: a user
style cannot take one.

Listing never raises: a style whose files are damaged is listed with `.error` and the others still load.
Loading validates every tensor (names, shapes, dtypes, finite values) and says exactly what is wrong.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import time
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .errors import (CorruptStyleError, InvalidOwnerError, InvalidStyleNameError, InvalidStyleTensorError,
                     StyleError, StyleModelMismatchError, StyleNameTakenError, StyleNotFoundError)
from .styles import Style, StyleMeta

PRESET_DIR = Path(__file__).resolve().parent / "presets"
MAX_NAME = 64
MAX_DESCRIPTION = 500
MAX_META_BYTES = 256 * 1024  # a style's JSON is a few hundred bytes; anything huge is not ours
MAX_VERTICES = 100_000
MAX_STYLE_DIM = 4096
MAX_TEXTURE_SIDE = 8192
MAX_ABS_VALUE = 1e6  # mm or basis units: real styles stay below 1e3; larger means garbage, not a face
STALE_TEMP_SECONDS = 3600  # a save takes well under a second; temporaries this old belong to dead writers

_SUFFIX = ".style"
_WEIGHTS, _META = "style.safetensors", "style.json"
_OWNER = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_SESSIONS = "sessions"  # the app's per-owner folders live under the user folder, out of the listing
_TENSORS = ("template", "style", "basis_weight_delta", "basis_bias_delta", "texture")


@dataclass
class StyleEntry:
    """One line of a style listing: a usable style, or a broken one with the reason."""
    name: str
    kind: str  # "preset" or "user"
    path: Path  # the style's JSON (of its newest version)
    meta: StyleMeta | None = None
    error: str | None = None


# A reader retries while writers replace the version it picked. On a loaded machine one pick can lose the
# race several times in a row (seen with 2 writers x 60 overwrites at load average 20), so allow many.
_READ_RETRIES = 50


# --- names and folders ---------------------------------------------------------------------------------
def user_style_dir() -> Path:
    env = os.environ.get("IMITATOR_STYLE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "imitator" / "styles"


def new_owner() -> str:
    """A random token naming one app session's styles (unguessable: 144 bits)."""
    return secrets.token_urlsafe(18)


def owner_dir(user_dir: str | os.PathLike | None = None, owner: str | None = None) -> Path:
    """The folder of `owner`'s styles: the local user's own folder for owner=None."""
    base = Path(user_dir) if user_dir is not None else user_style_dir()
    if owner is None:
        return base
    if not isinstance(owner, str) or not _OWNER.match(owner):
        raise InvalidOwnerError("invalid style owner token: expected 16-64 letters, digits, '_' or '-' "
                                "(use style_store.new_owner())")
    return base / _SESSIONS / owner


def check_name(name: str) -> str:
    """A style name as stored: NFC-normalised, trimmed; letters and digits of any script, marks, and
    space _ . - only; starting with a letter or digit; at most 64 characters."""
    if not isinstance(name, str):
        raise InvalidStyleNameError(f"a style name must be text, not {type(name).__name__}")
    name = unicodedata.normalize("NFC", name).strip()
    ok = bool(name) and len(name) <= MAX_NAME and unicodedata.category(name[0])[0] in "LN" and all(
        unicodedata.category(c)[0] in "LNM" or c in " _.-" for c in name)
    if not ok:
        raise InvalidStyleNameError(
            f"invalid style name {name[:80]!r}: use letters, digits, spaces, '_', '-' or '.' "
            f"(up to {MAX_NAME} characters, starting with a letter or digit)")
    return name


def name_key(name: str) -> str:
    """Names that differ only in case are the same style ("ava" is the preset "Ava")."""
    return check_name(name).casefold()


def file_stem(name: str) -> str:
    """The file name of a style: an ASCII slug for people browsing the folder, plus a hash of the
    case-folded name that makes it unique. Only [a-z0-9_-] reach the file system."""
    key = name_key(name)
    ascii_name = unicodedata.normalize("NFKD", key).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9_-]+", "_", ascii_name).strip("_")[:40] or "style"
    return f"{slug}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"


# --- listing -------------------------------------------------------------------------------------------
def list_styles(user_dir: str | os.PathLike | None = None, preset_dir: str | os.PathLike | None = PRESET_DIR,
                owner: str | None = None) -> list[StyleEntry]:
    """Presets first, then the owner's styles, each sorted by name. Read from disk on every call. Never
    raises for a damaged style: it is listed with `.error` (and a user style named like a preset too)."""
    presets = _scan(preset_dir, "preset")
    taken = {e.name.casefold() for e in presets}
    users = _scan(owner_dir(user_dir, owner), "user")
    for e in users:
        if e.error is None and e.name.casefold() in taken:
            e.error = "has the name of a preset, which always wins; rename it"
    return presets + users


def find_style(name: str, user_dir=None, preset_dir=PRESET_DIR, owner: str | None = None) -> StyleEntry:
    """A preset of that name (case-insensitive) if there is one, else the owner's style."""
    key = name_key(name)
    for kind, folder in (("preset", preset_dir), ("user", owner_dir(user_dir, owner))):
        entry = _find(folder, kind, key)
        if entry is not None:
            return entry
    names = [e.name for e in list_styles(user_dir, preset_dir, owner) if e.error is None]
    raise StyleNotFoundError(f"no style named {name!r}; available: {', '.join(names) or 'none'}")


def _scan(folder, kind: str) -> list[StyleEntry]:
    if folder is None or not Path(folder).is_dir():
        return []
    versioned: dict[str, StyleEntry] = {}
    flat: dict[str, StyleEntry] = {}
    for path in sorted(Path(folder).iterdir()):
        try:
            if path.name.startswith("."):
                continue
            if path.suffix == _SUFFIX and path.is_dir():
                entry, into = _entry_from_dir(path, kind), versioned
            elif path.suffix == ".json" and path.is_file():
                entry, into = _entry_from_flat(path, kind), flat
            else:
                continue
        except OSError as e:  # an unreadable directory entry: report it, keep listing
            entry, into = StyleEntry(path.stem, kind, path, error=f"cannot be read ({e.__class__.__name__})"), flat
        if entry is not None:
            into.setdefault(entry.name.casefold(), entry)
    merged = {**flat, **versioned}  # the versioned layout wins over an old flat pair of the same name
    return sorted(merged.values(), key=lambda e: (e.name.casefold(), e.name))


def _find(folder, kind: str, key: str) -> StyleEntry | None:
    if folder is None or not Path(folder).is_dir():
        return None
    folder = Path(folder)
    style_dir = folder / (file_stem(key) + _SUFFIX)
    if style_dir.is_dir():
        entry = _entry_from_dir(style_dir, kind)
        if entry is not None:
            return entry
    for meta in folder.glob("*.json"):  # old flat layout: NAME.json
        if meta.stem.casefold() == key and meta.is_file():
            return _entry_from_flat(meta, kind)
    return None


def _entry_from_dir(style_dir: Path, kind: str) -> StyleEntry | None:
    """The newest version of a versioned style, or None if it has none yet (a first save in progress)."""
    for _ in range(_READ_RETRIES):  # a writer may remove the version we picked while we read it: pick again
        version = _newest_version(style_dir)
        if version is None:
            return None
        entry = StyleEntry(style_dir.stem, kind, version / _META)
        try:
            entry.meta = _read_meta(version / _META)
            entry.name = entry.meta.name
            if file_stem(entry.meta.name) != style_dir.stem:
                raise CorruptStyleError(f"its metadata names {entry.meta.name!r}, not this folder's style")
            if not (version / _WEIGHTS).is_file():
                if _superseded(version):
                    continue
                raise CorruptStyleError("its weights file is missing")
        except FileNotFoundError:
            continue
        except (StyleError, OSError) as e:
            entry.error = str(e)
        return entry
    return StyleEntry(style_dir.stem, kind, style_dir, error="it is being rewritten continuously; try again")


def _entry_from_flat(meta_path: Path, kind: str) -> StyleEntry | None:
    """NAME.json + NAME.safetensors (the layout before versions); the file name is the style's name."""
    entry = StyleEntry(meta_path.stem, kind, meta_path)
    try:
        check_name(meta_path.stem)
        entry.meta = _read_meta(meta_path)
        entry.meta.name = meta_path.stem
        if not meta_path.with_suffix(".safetensors").is_file():
            raise CorruptStyleError("its weights file is missing")
    except (StyleError, OSError) as e:
        entry.error = str(e)
    return entry


def _newest_version(style_dir: Path) -> Path | None:
    try:
        versions = sorted(p for p in style_dir.iterdir() if p.name.startswith("v") and p.is_dir())
    except FileNotFoundError:
        return None
    return versions[-1] if versions else None


def _superseded(version: Path) -> bool:
    """True while a writer is removing `version` because a newer one was published."""
    return not version.exists() or _newest_version(version.parent) != version


def _weights_path(entry: StyleEntry) -> Path:
    return entry.path.parent / _WEIGHTS if entry.path.name == _META else entry.path.with_suffix(".safetensors")


def _read_meta(path: Path) -> StyleMeta:
    """The JSON as a StyleMeta, or CorruptStyleError saying what is wrong (never another exception)."""
    try:
        if path.stat().st_size > MAX_META_BYTES:
            raise CorruptStyleError(f"its metadata file {path.name} is larger than {MAX_META_BYTES} bytes")
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        raise CorruptStyleError(f"its metadata file {path.name} is damaged ({e.__class__.__name__})") from e
    except FileNotFoundError:
        raise  # a writer replaced this version: the caller reads the newest one
    except OSError as e:
        raise CorruptStyleError(f"its metadata file {path.name} cannot be read ({e.__class__.__name__})") from e
    if not isinstance(data, dict):
        raise CorruptStyleError(f"its metadata file {path.name} is damaged (a JSON {type(data).__name__}, "
                                "not an object)")
    fields = {}
    for key, typ in (("name", str), ("description", str), ("created", str), ("source", str),
                     ("model_id", str), ("fit", dict)):
        if key in data:
            if not isinstance(data[key], typ):
                raise CorruptStyleError(f"its metadata file {path.name} is damaged ('{key}' is a "
                                        f"{type(data[key]).__name__}, not a {typ.__name__})")
            fields[key] = data[key]
    fields.setdefault("name", path.stem)
    return StyleMeta(**fields)


# --- loading and validation ----------------------------------------------------------------------------
def load_style(name: str, model_id: str | None = None, user_dir=None, preset_dir=PRESET_DIR,
               owner: str | None = None) -> Style:
    """Load a style by name (a preset name always means the preset); with model_id, refuse a style fitted
    to other weights. Every tensor is validated: a damaged file is a CorruptStyleError, never a crash."""
    for attempt in range(_READ_RETRIES):
        entry = find_style(name, user_dir, preset_dir, owner)
        if entry.error:
            raise CorruptStyleError(f"style {entry.name!r} cannot be loaded: {entry.error}")
        meta = entry.meta
        if model_id is not None and meta.model_id and meta.model_id != model_id:
            raise StyleModelMismatchError(
                f"style {meta.name!r} was made for model {meta.model_id}, not the loaded model {model_id}; "
                "create it again from its video with this model")
        try:
            tensors = load_file(_weights_path(entry))
        except (SafetensorError, OSError, ValueError, RuntimeError) as e:
            if attempt < _READ_RETRIES - 1 and entry.path.name == _META and _superseded(entry.path.parent):
                continue  # a writer replaced this version between our listing and reading: read again
            raise CorruptStyleError(f"style {meta.name!r} cannot be loaded: its weights file is damaged "
                                    f"({e.__class__.__name__})") from e
        return style_from_tensors(meta, tensors)
    raise AssertionError("unreachable")


def style_from_tensors(meta: StyleMeta, tensors: dict[str, torch.Tensor]) -> Style:
    """Check a style's tensors (see `validate_tensors`) and build the Style, floats as float32."""
    validate_tensors(tensors, meta.name)
    f = {k: v.float() for k, v in tensors.items() if k != "texture"}
    return Style(meta, f["template"], f["style"], f.get("basis_weight_delta"), f.get("basis_bias_delta"),
                 tensors.get("texture"))


def validate_tensors(tensors: dict[str, torch.Tensor], name: str = "the style") -> None:
    """Names, dtypes, shapes and values of a style's tensors, each failure with its own message."""
    def bad(message: str) -> InvalidStyleTensorError:
        return InvalidStyleTensorError(f"style {name!r} is damaged: {message}")

    unknown = sorted(set(tensors) - set(_TENSORS))
    if unknown:
        raise bad(f"unexpected tensors {unknown}; a style holds {', '.join(_TENSORS)}")
    for key in ("template", "style"):
        if key not in tensors:
            raise bad(f"the '{key}' tensor is missing")
    if ("basis_weight_delta" in tensors) != ("basis_bias_delta" in tensors):
        have, miss = (("basis_weight_delta", "basis_bias_delta") if "basis_weight_delta" in tensors
                      else ("basis_bias_delta", "basis_weight_delta"))
        raise bad(f"it has '{have}' but not '{miss}'")
    for key, t in tensors.items():
        if key == "texture":
            continue
        if not t.is_floating_point():
            raise bad(f"'{key}' is {str(t.dtype).removeprefix('torch.')}, not a floating-point tensor")
        if not bool(torch.isfinite(t).all()):
            raise bad(f"'{key}' holds NaN or infinite values")
        if t.numel() and float(t.abs().max()) > MAX_ABS_VALUE:
            raise bad(f"'{key}' holds values up to {float(t.abs().max()):.3g}, beyond {MAX_ABS_VALUE:g}")
    template, vector = tensors["template"], tensors["style"]
    if template.dim() != 2 or template.shape[1] != 3 or not 3 <= template.shape[0] <= MAX_VERTICES:
        raise bad(f"'template' has shape {tuple(template.shape)}; expected (V, 3) with 3 <= V <= {MAX_VERTICES}")
    if vector.dim() != 1 or not 1 <= vector.shape[0] <= MAX_STYLE_DIM:
        raise bad(f"'style' has shape {tuple(vector.shape)}; expected (d,) with 1 <= d <= {MAX_STYLE_DIM}")
    n, d = 3 * template.shape[0], vector.shape[0]
    if "basis_weight_delta" in tensors:
        w, b = tensors["basis_weight_delta"], tensors["basis_bias_delta"]
        if tuple(w.shape) != (n, d):
            raise bad(f"'basis_weight_delta' has shape {tuple(w.shape)}; expected ({n}, {d}) for "
                      f"{n // 3} vertices and a {d}-d style")
        if tuple(b.shape) != (n,):
            raise bad(f"'basis_bias_delta' has shape {tuple(b.shape)}; expected ({n},)")
    if "texture" in tensors:
        t = tensors["texture"]
        if t.dtype != torch.uint8:
            raise bad(f"'texture' is {str(t.dtype).removeprefix('torch.')}, not uint8")
        if t.dim() != 3 or t.shape[2] != 3 or not (1 <= t.shape[0] <= MAX_TEXTURE_SIDE
                                                   and 1 <= t.shape[1] <= MAX_TEXTURE_SIDE):
            raise bad(f"'texture' has shape {tuple(t.shape)}; expected (H, W, 3) with sides up to "
                      f"{MAX_TEXTURE_SIDE}")


def check_style(style: Style) -> None:
    """Validate a Style built in memory (not read from a file) the way a loaded one is."""
    validate_tensors(_tensors_of(style), style.name)


def _tensors_of(style: Style) -> dict[str, torch.Tensor]:
    tensors = {"template": style.template, "style": style.vector}
    if style.basis_weight_delta is not None or style.basis_bias_delta is not None:
        tensors["basis_weight_delta"] = style.basis_weight_delta
        tensors["basis_bias_delta"] = style.basis_bias_delta
    if style.texture is not None:
        tensors["texture"] = style.texture
    tensors = {k: v for k, v in tensors.items() if v is not None}
    out = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    return {k: (v if k == "texture" else v.float()) for k, v in out.items()}


# --- writing -------------------------------------------------------------------------------------------
def save_style(style: Style, folder: str | os.PathLike | None = None, overwrite: bool = False,
               owner: str | None = None, preset_dir: str | os.PathLike | None = PRESET_DIR) -> Path:
    """Save atomically as a unit (both files or neither). Refuses a preset's name (StyleNameTakenError)
    unless saving into the preset folder itself, and an existing name unless overwrite. Returns the JSON."""
    name = check_name(style.meta.name)
    style.meta.name = name
    style.meta.description = str(style.meta.description or "")[:MAX_DESCRIPTION]
    tensors = _tensors_of(style)
    validate_tensors(tensors, name)  # refuse to write what we would refuse to read
    target = owner_dir(folder, owner)
    if preset_dir is not None and not _same_dir(target, preset_dir) \
            and _find(preset_dir, "preset", name_key(name)) is not None:
        raise StyleNameTakenError(f"{name!r} is the name of a bundled preset; choose another name")
    target.mkdir(parents=True, exist_ok=True)
    stem = file_stem(name)
    style_dir = target / (stem + _SUFFIX)
    with _locked(target, stem):
        style_dir.mkdir(exist_ok=True)
        _remove_temporaries(style_dir, older_than=0)  # we hold the lock: no live writer owns them
        legacy = [p for p in target.glob("*.json") if p.stem.casefold() == name.casefold()]
        if not overwrite and (_newest_version(style_dir) is not None or legacy):
            raise StyleNameTakenError(f"a style named {name!r} already exists; choose another name or "
                                      "delete it first")
        style.meta.created = style.meta.created or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        tmp = style_dir / f".tmp-{secrets.token_hex(8)}"
        tmp.mkdir()
        save_file(tensors, tmp / _WEIGHTS)
        (tmp / _META).write_text(json.dumps(asdict(style.meta), indent=1, ensure_ascii=False), encoding="utf-8")
        for f in (tmp / _WEIGHTS, tmp / _META):
            _fsync(f)
        version = style_dir / f"v{time.time_ns():024d}-{secrets.token_hex(4)}"
        os.rename(tmp, version)  # the publish: one atomic step
        _fsync(style_dir)
        for old in style_dir.iterdir():  # older versions; a reader still on one retries with the newest
            if old != version and old.name.startswith("v"):
                shutil.rmtree(old, ignore_errors=True)
        for meta in legacy:  # this name's old flat pair is replaced by the versioned style
            meta.unlink(missing_ok=True)
            meta.with_suffix(".safetensors").unlink(missing_ok=True)
    return version / _META


def delete_style(name: str, user_dir=None, owner: str | None = None) -> None:
    folder = owner_dir(user_dir, owner)
    key = name_key(name)
    stem = file_stem(key)
    style_dir = folder / (stem + _SUFFIX)
    legacy = [p for p in folder.glob("*.json") if p.stem.casefold() == key] if folder.is_dir() else []
    if not (style_dir.is_dir() and _newest_version(style_dir) is not None) and not legacy:
        raise StyleNotFoundError(f"no user style named {name!r} (presets cannot be deleted)")
    with _locked(folder, stem):
        if style_dir.is_dir():
            trash = folder / f".trash-{stem}-{secrets.token_hex(4)}"
            os.rename(style_dir, trash)  # the style vanishes in one step, then its files go
            shutil.rmtree(trash, ignore_errors=True)
        for meta in legacy:
            meta.unlink(missing_ok=True)  # first: a style without JSON is no longer listed
            meta.with_suffix(".safetensors").unlink(missing_ok=True)


def rename_style(old: str, new: str, user_dir=None, owner: str | None = None, overwrite: bool = False,
                 preset_dir=PRESET_DIR) -> Path:
    """Give a user style a new name (the copy is saved before the old one is removed: a crash in between
    leaves both, never neither)."""
    entry = _find(owner_dir(user_dir, owner), "user", name_key(old))
    if entry is None:
        raise StyleNotFoundError(f"no user style named {old!r} (presets cannot be renamed)")
    style = load_style(entry.name, user_dir=user_dir, preset_dir=None, owner=owner)
    new = check_name(new)
    same = name_key(new) == name_key(old)
    style.meta.name = new
    path = save_style(style, user_dir, overwrite=overwrite or same, owner=owner, preset_dir=preset_dir)
    if not same:
        delete_style(old, user_dir, owner)
    return path


def describe_style(name: str, description: str, user_dir=None, owner: str | None = None) -> Path:
    """Replace a user style's description (a new version, written like any save)."""
    entry = _find(owner_dir(user_dir, owner), "user", name_key(name))
    if entry is None:
        raise StyleNotFoundError(f"no user style named {name!r} (presets cannot be changed)")
    style = load_style(entry.name, user_dir=user_dir, preset_dir=None, owner=owner)
    style.meta.description = str(description)
    return save_style(style, user_dir, overwrite=True, owner=owner, preset_dir=None)


def remove_stale_temporaries(folder: str | os.PathLike | None = None, owner: str | None = None,
                             older_than: float = STALE_TEMP_SECONDS) -> int:
    """Delete what crashed writers left (temporary versions, half-deleted styles) older than `older_than`
    seconds, across a style folder. Returns how many were removed. The app calls this at start."""
    folder = owner_dir(folder, owner)
    removed = 0
    if not folder.is_dir():
        return 0
    for path in folder.iterdir():
        if path.name.startswith(".trash-") and _age(path) > older_than:
            shutil.rmtree(path, ignore_errors=True)
            removed += 1
        elif path.suffix == _SUFFIX and path.is_dir():
            removed += _remove_temporaries(path, older_than)
    return removed


def _remove_temporaries(style_dir: Path, older_than: float) -> int:
    removed = 0
    for tmp in style_dir.glob(".tmp-*"):
        if _age(tmp) >= older_than:
            shutil.rmtree(tmp, ignore_errors=True)
            removed += 1
    return removed


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _same_dir(a, b) -> bool:
    try:
        return Path(a).resolve() == Path(b).resolve()
    except OSError:
        return False


def _fsync(path: Path) -> None:
    """Durable before the rename publishes it (a power cut must not publish empty files)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems cannot fsync a directory; the rename is still atomic
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def _locked(folder: Path, stem: str):
    """An exclusive lock on one style name, across threads and processes; the OS drops it if we die."""
    lock_dir = folder / ".locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock_dir / f"{stem}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            import fcntl
        except ImportError:  # Windows: no flock; saves of one name from two processes are not serialised
            fcntl = None
        if fcntl is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the flock
