"""Style management as the app and the CLI use it: list, save, load, rename, describe, delete.

A small stand-in for issue 15's style store with the same signatures, on top of styles.py (it is replaced
when that lands). Presets are read-only and never shadowed: a user style cannot take a preset's name.
`owner` (a random token from new_owner(); the app keeps one per browser) gives each owner a folder of their
own, so users of one server cannot see or overwrite each other's styles; owner=None is the local user.
"""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from .styles import (PRESET_DIR, CorruptStyleError, Style, StyleEntry, StyleError, StyleMeta,  # noqa: F401
                     StyleNotFoundError, check_name, user_style_dir)
from . import styles as _files


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
    return {e.name for e in _files.list_styles(user_dir=os.devnull, preset_dir=preset_dir)}


def list_styles(user_dir=None, preset_dir=PRESET_DIR, owner: str | None = None) -> list[StyleEntry]:
    """Presets first, then this owner's styles; a user file with a preset's name is not listed."""
    presets = _preset_names(preset_dir)
    return [e for e in _files.list_styles(owner_dir(user_dir, owner), preset_dir)
            if e.kind == "preset" or e.name not in presets]


def _refuse_taken(name: str, folder: Path, overwrite: bool) -> None:
    if name in _preset_names():
        raise StyleNameTakenError(f"{name!r} is the name of a bundled preset; choose another name")
    if (folder / f"{name}.json").exists() and not overwrite:
        raise StyleNameTakenError(f"you already have a style named {name!r}; choose another name, or "
                                  "ask to replace it")


def save_style(style: Style, folder=None, overwrite: bool = False, owner: str | None = None) -> Path:
    folder = owner_dir(folder, owner)
    style.meta.name = check_name(style.meta.name)
    _refuse_taken(style.meta.name, folder, overwrite)
    return _files.save_style(style, folder, overwrite=overwrite)


def load_style(name: str, model_id: str | None = None, user_dir=None, preset_dir=PRESET_DIR,
               owner: str | None = None) -> Style:
    if name in _preset_names(preset_dir):  # presets first: never shadowed by a user file
        return _files.load_style(name, model_id, user_dir=os.devnull, preset_dir=preset_dir)
    return _files.load_style(name, model_id, owner_dir(user_dir, owner), preset_dir=None)


def delete_style(name: str, user_dir=None, owner: str | None = None) -> None:
    if name in _preset_names():
        raise StyleError(f"{name!r} is a bundled preset; presets cannot be deleted")
    _files.delete_style(name, owner_dir(user_dir, owner))


def rename_style(old: str, new: str, user_dir=None, owner: str | None = None, overwrite: bool = False) -> None:
    folder = owner_dir(user_dir, owner)
    if old in _preset_names():
        raise StyleError(f"{old!r} is a bundled preset; presets cannot be renamed")
    new = check_name(new)
    style = _files.load_style(old, user_dir=folder, preset_dir=None)
    _refuse_taken(new, folder, overwrite or new == old)
    style.meta.name = new
    _files.save_style(style, folder, overwrite=True)
    if new != old:
        _files.delete_style(old, folder)


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
