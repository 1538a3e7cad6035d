"""Where styles are kept: saving, listing, finding, loading and deleting style files.

A style NAME is two files in a style folder:
    NAME.safetensors   template (V, 3) mm, style (d,), and optionally basis_weight_delta (3V, d) and
                       basis_bias_delta (3V,): the adapted deformation basis minus the model's generic one;
                       texture (H, W, 3) uint8: a picture of the person's face (deleted with the style)
    NAME.json          metadata: name, description, created, source hash, fit errors (mm), model_id

Writes are atomic (temporary files, then rename; the JSON last, and a style without its JSON is not
listed), so a crash never leaves a half-written style. A corrupted file is reported for that style only;
the others still load. User styles live in $IMITATOR_STYLE_DIR (default ~/.local/share/imitator/styles);
bundled presets (package data in imitator/presets/) are read-only and never shadowed: a user style cannot
take a preset's name. `owner` (a random token from new_owner(); the app keeps one per browser) gives each
owner a folder of their own, so users of one server cannot see or overwrite each other's styles; owner=None
is the local user. (Owners, rename and describe are a small stand-in for issue 15's store.)
"""
from __future__ import annotations

import json
import os
import re
import secrets
import time
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .errors import CorruptStyleError, StyleError, StyleModelMismatchError, StyleNotFoundError
from .styles import Style, StyleMeta

PRESET_DIR = Path(__file__).resolve().parent / "presets"
_NAME = re.compile(r"^[^\W_][\w .-]{0,63}$")  # \w: any Unicode letter or digit ("José", "Zoë")


@dataclass
class StyleEntry:
    """One line of a style listing: a usable style, or a broken one with the reason."""
    name: str
    kind: str  # "preset" or "user"
    path: Path
    meta: StyleMeta | None = None
    error: str | None = None


def user_style_dir() -> Path:
    env = os.environ.get("IMITATOR_STYLE_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "imitator" / "styles"


def check_name(name: str) -> str:
    """Style names become file names: letters (any script), digits, space, _ . - only, no path separators,
    <= 64 chars. NFC-normalised so that "José" typed on any keyboard is one file name."""
    name = unicodedata.normalize("NFC", name.strip())
    if not _NAME.match(name) or ".." in name:
        raise StyleError(f"invalid style name {name!r}: use letters, digits, spaces, '_', '-' or '.' "
                         "(up to 64 characters, starting with a letter or digit)")
    return name


def _save(style: Style, folder: str | os.PathLike | None = None, overwrite: bool = False) -> Path:
    folder = Path(folder) if folder is not None else user_style_dir()
    folder.mkdir(parents=True, exist_ok=True)
    name = check_name(style.meta.name)
    weights, meta = folder / f"{name}.safetensors", folder / f"{name}.json"
    if meta.exists() and not overwrite:
        raise StyleError(f"a style named {name!r} already exists; choose another name or delete it first")
    tensors = {"template": style.template, "style": style.vector}
    if style.basis_weight_delta is not None:
        tensors["basis_weight_delta"] = style.basis_weight_delta
        tensors["basis_bias_delta"] = style.basis_bias_delta
    tensors = {k: v.detach().cpu().float() for k, v in tensors.items()}
    if style.texture is not None:  # a picture stays uint8
        tensors["texture"] = style.texture.detach().cpu().to(torch.uint8)
    style.meta.created = style.meta.created or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    tmp_w, tmp_m = folder / f".{name}.safetensors.tmp", folder / f".{name}.json.tmp"
    save_file({k: v.contiguous() for k, v in tensors.items()}, tmp_w)
    tmp_m.write_text(json.dumps(asdict(style.meta), indent=1, ensure_ascii=False))
    os.replace(tmp_w, weights)
    os.replace(tmp_m, meta)  # last: a style is listed only once both files are complete
    return meta


def _list(user_dir: str | os.PathLike | None = None,
          preset_dir: str | os.PathLike | None = PRESET_DIR) -> list[StyleEntry]:
    """Presets first, then user styles, each sorted by name. Broken styles are listed with their error."""
    entries = []
    for kind, folder in (("preset", preset_dir), ("user", user_dir if user_dir is not None else user_style_dir())):
        if folder is None or not Path(folder).is_dir():
            continue
        for meta_path in sorted(Path(folder).glob("*.json")):
            entry = StyleEntry(meta_path.stem, kind, meta_path)
            try:
                entry.meta = _read_meta(meta_path)
                if not meta_path.with_suffix(".safetensors").is_file():
                    raise CorruptStyleError("its weights file is missing")
            except CorruptStyleError as e:
                entry.error = str(e)
            entries.append(entry)
    return entries


def find_style(name: str, user_dir=None, preset_dir=PRESET_DIR) -> StyleEntry:
    """User styles shadow presets of the same name."""
    matches = [e for e in _list(user_dir, preset_dir) if e.name == name]
    if not matches:
        names = [e.name for e in _list(user_dir, preset_dir) if e.error is None]
        raise StyleNotFoundError(f"no style named {name!r}; available: {', '.join(names) or 'none'}")
    return matches[-1]


def _load(name: str, model_id: str | None = None, user_dir=None, preset_dir=PRESET_DIR) -> Style:
    """Load a style by name; with model_id, refuse a style fitted to other weights."""
    entry = find_style(name, user_dir, preset_dir)
    if entry.error:
        raise CorruptStyleError(f"style {name!r} cannot be loaded: {entry.error}")
    meta = entry.meta
    if model_id is not None and meta.model_id and meta.model_id != model_id:
        raise StyleModelMismatchError(
            f"style {name!r} was made for model {meta.model_id}, not the loaded model {model_id}; "
            "create it again from its video with this model")
    try:
        t = load_file(entry.path.with_suffix(".safetensors"))
        style = Style(meta, t["template"], t["style"], t.get("basis_weight_delta"), t.get("basis_bias_delta"),
                      t.get("texture"))
    except (SafetensorError, OSError, KeyError, ValueError) as e:
        raise CorruptStyleError(f"style {name!r} cannot be loaded: its weights file is damaged ({e})") from e
    return style


def _delete(name: str, user_dir=None) -> None:
    folder = Path(user_dir) if user_dir is not None else user_style_dir()
    name = check_name(name)
    meta = folder / f"{name}.json"
    if not meta.is_file():
        raise StyleNotFoundError(f"no user style named {name!r} (presets cannot be deleted)")
    meta.unlink()  # first: a style without JSON is no longer listed, even if the next unlink fails
    (folder / f"{name}.safetensors").unlink(missing_ok=True)


def _read_meta(path: Path) -> StyleMeta:
    try:
        data = json.loads(path.read_text())
        return StyleMeta(**{k: v for k, v in data.items() if k in StyleMeta.__dataclass_fields__})
    except (json.JSONDecodeError, TypeError, UnicodeDecodeError, OSError) as e:
        raise CorruptStyleError(f"its metadata file {path.name} is damaged ({e.__class__.__name__})") from e


class StyleNameTakenError(StyleError):
    pass


def new_owner() -> str:
    return secrets.token_hex(8)


def owner_dir(user_dir=None, owner: str | None = None) -> Path:
    folder = Path(user_dir) if user_dir is not None else user_style_dir()
    if owner is None:
        return folder
    if not owner.isalnum():
        raise StyleError("invalid style owner token")
    return folder / "owners" / owner


def _preset_names(preset_dir=PRESET_DIR) -> set[str]:
    return {e.name for e in _list(user_dir=os.devnull, preset_dir=preset_dir)}


def list_styles(user_dir=None, preset_dir=PRESET_DIR, owner: str | None = None) -> list[StyleEntry]:
    """Presets first, then this owner's styles; a user file with a preset's name is not listed."""
    presets = _preset_names(preset_dir)
    return [e for e in _list(owner_dir(user_dir, owner), preset_dir)
            if e.kind == "preset" or e.name not in presets]


def _refuse_taken(name: str, folder: Path, overwrite: bool) -> None:
    if name in _preset_names():
        raise StyleNameTakenError(f"{name!r} is the name of a bundled preset; choose another name")
    if (folder / f"{name}.json").exists() and not overwrite:
        raise StyleNameTakenError(f"a style named {name!r} already exists among yours; choose another name, or "
                                  "ask to replace it")


def save_style(style: Style, folder=None, overwrite: bool = False, owner: str | None = None) -> Path:
    folder = owner_dir(folder, owner)
    style.meta.name = check_name(style.meta.name)
    _refuse_taken(style.meta.name, folder, overwrite)
    return _save(style, folder, overwrite=overwrite)


def load_style(name: str, model_id: str | None = None, user_dir=None, preset_dir=PRESET_DIR,
               owner: str | None = None) -> Style:
    if name in _preset_names(preset_dir):  # presets first: never shadowed by a user file
        return _load(name, model_id, user_dir=os.devnull, preset_dir=preset_dir)
    return _load(name, model_id, owner_dir(user_dir, owner), preset_dir=None)


def delete_style(name: str, user_dir=None, owner: str | None = None) -> None:
    if name in _preset_names():
        raise StyleError(f"{name!r} is a bundled preset; presets cannot be deleted")
    _delete(name, owner_dir(user_dir, owner))


def rename_style(old: str, new: str, user_dir=None, owner: str | None = None, overwrite: bool = False) -> None:
    folder = owner_dir(user_dir, owner)
    if old in _preset_names():
        raise StyleError(f"{old!r} is a bundled preset; presets cannot be renamed")
    new = check_name(new)
    style = _load(old, user_dir=folder, preset_dir=None)
    _refuse_taken(new, folder, overwrite or new == old)
    style.meta.name = new
    _save(style, folder, overwrite=True)
    if new != old:
        _delete(old, folder)


def describe_style(name: str, description: str, user_dir=None, owner: str | None = None) -> None:
    folder = owner_dir(user_dir, owner)
    if name in _preset_names():
        raise StyleError(f"{name!r} is a bundled preset; presets cannot be changed")
    meta = folder / f"{check_name(name)}.json"
    if not meta.is_file():
        raise StyleNotFoundError(f"no style of yours named {name!r}")
    data = json.loads(meta.read_text())
    data["description"] = description.strip()[:500]
    tmp = meta.with_name(f".{meta.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1, ensure_ascii=False))
    os.replace(tmp, meta)
