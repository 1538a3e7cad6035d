import json
import multiprocessing as mp
import os
import signal
import time

import pytest
import torch
from safetensors.torch import save_file

from imitator.errors import (CorruptStyleError, InvalidOwnerError, InvalidStyleNameError, InvalidStyleTensorError,
                             StyleError, StyleModelMismatchError, StyleNameTakenError, StyleNotFoundError)
from imitator.style_store import (check_name, delete_style, describe_style, file_stem, list_styles, load_style,
                                  new_owner, remove_stale_temporaries, rename_style, save_style, user_style_dir)
from imitator.styles import Style, StyleMeta


def make_style(name="Ada", model_id="m1", with_basis=True, seed=None, n_vertices=10, description="test"):
    torch.manual_seed(len(name) if seed is None else seed)
    return Style(StyleMeta(name=name, description=description, model_id=model_id, fit={"fit_l2_mm": 0.5}),
                 torch.randn(n_vertices, 3), torch.randn(64),
                 torch.randn(3 * n_vertices, 64) if with_basis else None,
                 torch.randn(3 * n_vertices) if with_basis else None)


def files_under(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and ".locks" not in p.parts)


def test_round_trip(tmp_path):
    st = make_style()
    st.texture = torch.randint(0, 255, (8, 6, 3), dtype=torch.uint8)
    save_style(st, tmp_path)
    back = load_style("Ada", model_id="m1", user_dir=tmp_path, preset_dir=None)
    assert torch.equal(back.template, st.template) and torch.equal(back.vector, st.vector)
    assert torch.equal(back.basis_weight_delta, st.basis_weight_delta)
    assert torch.equal(back.texture, st.texture) and back.texture.dtype == torch.uint8
    assert back.meta.fit == {"fit_l2_mm": 0.5} and back.meta.created
    files = files_under(tmp_path)  # one version of two files, no temporaries
    assert len(files) == 2 and {f.rsplit("/", 1)[1] for f in files} == {"style.json", "style.safetensors"}


def test_style_without_basis(tmp_path):
    save_style(make_style(with_basis=False), tmp_path)
    assert load_style("Ada", user_dir=tmp_path, preset_dir=None).basis_weight_delta is None


@pytest.mark.parametrize("bad", ["../evil", "a/b", "", " ", ".hidden", "x" * 65, "a\\b", "nul\x00", "a:b", "é" * 65,
                                 "..", "~root", "a\nb"])
def test_unsafe_names_are_refused(tmp_path, bad):
    with pytest.raises(InvalidStyleNameError, match="invalid style name"):
        save_style(make_style(name=bad), tmp_path)
    assert not list(tmp_path.parent.glob("evil*"))


@pytest.mark.parametrize("name", ["José", "Zoë 2", "李雷", "Ólafur_Arnalds-1.0", "Дмитрий"])
def test_names_in_any_script_are_kept_and_files_are_ascii(tmp_path, name):
    save_style(make_style(name=name), tmp_path)
    assert [e.name for e in list_styles(tmp_path, preset_dir=None)] == [name]
    assert load_style(name, user_dir=tmp_path, preset_dir=None).name == name
    assert all(c.isascii() for f in files_under(tmp_path) for c in f)
    assert file_stem(name).isascii() and "/" not in file_stem(name)


def test_names_are_nfc_and_case_insensitive(tmp_path):
    assert check_name("Jose\u0301") == "José"
    save_style(make_style("José"), tmp_path)
    assert load_style("Jose\u0301", user_dir=tmp_path, preset_dir=None).name == "José"
    with pytest.raises(StyleNameTakenError, match="already exists"):
        save_style(make_style("JOSÉ"), tmp_path)


def test_existing_name_is_not_overwritten_by_accident(tmp_path):
    save_style(make_style(), tmp_path)
    with pytest.raises(StyleError, match="already exists"):
        save_style(make_style(), tmp_path)
    save_style(make_style(seed=5), tmp_path, overwrite=True)
    assert torch.equal(load_style("Ada", user_dir=tmp_path, preset_dir=None).vector, make_style(seed=5).vector)
    assert len(files_under(tmp_path)) == 2  # the old version is gone


def test_style_for_another_model_is_a_clear_error(tmp_path):
    save_style(make_style(model_id="aaaa"), tmp_path)
    with pytest.raises(StyleModelMismatchError, match="made for model aaaa"):
        load_style("Ada", model_id="bbbb", user_dir=tmp_path, preset_dir=None)


def test_unknown_style_lists_the_available_ones(tmp_path):
    save_style(make_style("Bob"), tmp_path)
    with pytest.raises(StyleNotFoundError, match="available: Bob"):
        load_style("Nobody", user_dir=tmp_path, preset_dir=None)


def _flat(folder, name, tensors=None, meta=None):
    """A style in the older flat layout, written by hand: the way damaged files reach us."""
    folder.mkdir(parents=True, exist_ok=True)
    if tensors is not None:
        save_file(tensors, folder / f"{name}.safetensors")
    else:
        (folder / f"{name}.safetensors").write_bytes(b"\x00garbage" * 10)
    (folder / f"{name}.json").write_text(json.dumps({"name": name}) if meta is None else meta)


@pytest.mark.parametrize("meta", ["[]", "null", "3", '"text"', "[" * 100_000 + "]" * 100_000, "{not json",
                                  '{"name": 5}', '{"fit": []}', "\xff\xfe"])
def test_one_bad_style_file_never_breaks_the_list(tmp_path, meta):
    """Issue item 4: a JSON that is [], null or deeply nested made list_styles raise for every style."""
    presets, user = tmp_path / "presets", tmp_path / "user"
    save_style(make_style("Preset1"), presets, preset_dir=None)
    save_style(make_style("Good"), user)
    _flat(user, "Bad", {"template": torch.zeros(10, 3), "style": torch.zeros(64)}, meta=meta)
    entries = {e.name: e for e in list_styles(user, presets)}
    assert entries["Preset1"].error is None and entries["Good"].error is None
    assert "damaged" in entries["Bad"].error
    assert load_style("Good", user_dir=user, preset_dir=presets).name == "Good"
    with pytest.raises(CorruptStyleError, match="metadata file Bad.json is damaged"):
        load_style("Bad", user_dir=user, preset_dir=presets)


def test_damaged_weights_are_reported_for_that_style_only(tmp_path):
    save_style(make_style("Good"), tmp_path)
    _flat(tmp_path, "BadWeights")
    assert {e.name: e.error for e in list_styles(tmp_path, preset_dir=None)}["Good"] is None
    with pytest.raises(CorruptStyleError, match="weights file is damaged"):
        load_style("BadWeights", user_dir=tmp_path, preset_dir=None)


V, D = 10, 64
GOOD = {"template": torch.zeros(V, 3), "style": torch.zeros(D), "basis_weight_delta": torch.zeros(3 * V, D),
        "basis_bias_delta": torch.zeros(3 * V)}


@pytest.mark.parametrize("change, message", [
    ({"basis_weight_delta": torch.zeros(30, 7)}, r"'basis_weight_delta' has shape \(30, 7\); expected \(30, 64\)"),
    ({"style": torch.zeros(7)}, r"'basis_weight_delta' has shape \(30, 64\); expected \(30, 7\)"),
    ({"template": torch.zeros(V, 3, dtype=torch.int64)}, "'template' is int64, not a floating-point tensor"),
    ({"template": torch.zeros(V, 2)}, r"'template' has shape \(10, 2\)"),
    ({"style": torch.zeros(2, 32)}, r"'style' has shape \(2, 32\)"),
    ({"basis_bias_delta": None}, "has 'basis_weight_delta' but not 'basis_bias_delta'"),
    ({"template": None}, "the 'template' tensor is missing"),
    ({"template": torch.full((V, 3), float("nan"))}, "'template' holds NaN or infinite values"),
    ({"style": torch.full((D,), float("inf"))}, "'style' holds NaN or infinite values"),
    ({"template": torch.full((V, 3), 1e30)}, "'template' holds values up to 1e\\+30"),
    ({"texture": torch.zeros(4, 4, 3)}, "'texture' is float32, not uint8"),
    ({"texture": torch.zeros(4, 4, dtype=torch.uint8)}, r"'texture' has shape \(4, 4\)"),
    ({"payload": torch.zeros(3)}, "unexpected tensors"),
])
def test_style_tensors_are_validated_with_specific_errors(tmp_path, change, message):
    """Issue item 4: wrong shapes, dtypes or missing keys raised raw RuntimeErrors deep in the model."""
    tensors = {k: v for k, v in {**GOOD, **change}.items() if v is not None}
    _flat(tmp_path, "Odd", tensors)
    with pytest.raises(InvalidStyleTensorError, match=message):
        load_style("Odd", user_dir=tmp_path, preset_dir=None)


def test_invalid_tensors_are_never_written(tmp_path):
    st = make_style()
    st.template[0, 0] = float("nan")
    with pytest.raises(InvalidStyleTensorError, match="NaN"):
        save_style(st, tmp_path)
    assert list_styles(tmp_path, preset_dir=None) == []


def test_delete_and_presets(tmp_path):
    presets, user = tmp_path / "presets", tmp_path / "user"
    save_style(make_style("Preset1"), presets, preset_dir=None)
    save_style(make_style("Mine"), user, preset_dir=presets)
    assert [(e.name, e.kind) for e in list_styles(user, presets)] == [("Preset1", "preset"), ("Mine", "user")]
    delete_style("Mine", user)
    assert [e.name for e in list_styles(user, presets)] == ["Preset1"]
    with pytest.raises(StyleNotFoundError, match="presets cannot be deleted"):
        delete_style("Preset1", user)


def test_presets_cannot_be_shadowed(tmp_path):
    """Issue item 6: a user "Ava" shadowed the preset Ava."""
    presets, user = tmp_path / "presets", tmp_path / "user"
    save_style(make_style("Ava", seed=1), presets, preset_dir=None)
    for name in ("Ava", "ava", "AVA"):
        with pytest.raises(StyleNameTakenError, match="bundled preset"):
            save_style(make_style(name, seed=2), user, overwrite=True, preset_dir=presets)
    _flat(user, "Ava", {"template": torch.ones(V, 3), "style": torch.ones(D)})  # one copied in by hand
    assert torch.equal(load_style("Ava", user_dir=user, preset_dir=presets).vector, make_style("Ava", seed=1).vector)
    user_entry = [e for e in list_styles(user, presets) if e.kind == "user"][0]
    assert "name of a preset" in user_entry.error


def test_owners_cannot_see_or_overwrite_each_other(tmp_path):
    """Issue item 6: the app saved with overwrite, so a second user's "Ada" replaced the first's."""
    a, b = new_owner(), new_owner()
    assert a != b
    save_style(make_style("Ada", seed=1), tmp_path, owner=a, overwrite=True)
    save_style(make_style("Ada", seed=2), tmp_path, owner=b, overwrite=True)
    assert torch.equal(load_style("Ada", user_dir=tmp_path, owner=a, preset_dir=None).vector,
                       make_style("Ada", seed=1).vector)
    assert torch.equal(load_style("Ada", user_dir=tmp_path, owner=b, preset_dir=None).vector,
                       make_style("Ada", seed=2).vector)
    save_style(make_style("Only B"), tmp_path, owner=b)
    assert [e.name for e in list_styles(tmp_path, preset_dir=None, owner=a)] == ["Ada"]
    assert list_styles(tmp_path, preset_dir=None) == []  # the local user's own folder holds neither
    with pytest.raises(StyleNotFoundError):
        load_style("Only B", user_dir=tmp_path, owner=a, preset_dir=None)
    for bad in ("../../etc", "short", "a" * 65, "x/" * 10):
        with pytest.raises(InvalidOwnerError):
            save_style(make_style("Ada"), tmp_path, owner=bad)


def test_rename_and_describe(tmp_path):
    save_style(make_style("Ada"), tmp_path)
    save_style(make_style("Bea"), tmp_path)
    with pytest.raises(StyleNameTakenError):
        rename_style("Ada", "bea", tmp_path)
    rename_style("Ada", "Ada Lovelace", tmp_path)
    describe_style("Ada Lovelace", "the first programmer", tmp_path)
    rename_style("Ada Lovelace", "ada lovelace", tmp_path)  # a change of case only
    entries = {e.name: e for e in list_styles(tmp_path, preset_dir=None)}
    assert list(entries) == ["ada lovelace", "Bea"]  # sorted ignoring case
    assert entries["ada lovelace"].meta.description == "the first programmer"
    assert torch.equal(load_style("ada lovelace", user_dir=tmp_path, preset_dir=None).vector, make_style("Ada").vector)


def test_old_flat_styles_still_load_and_a_save_replaces_them(tmp_path):
    _flat(tmp_path, "Old", {"template": torch.zeros(V, 3), "style": torch.zeros(D)})
    assert load_style("Old", user_dir=tmp_path, preset_dir=None).vector.shape == (D,)
    with pytest.raises(StyleNameTakenError):
        save_style(make_style("Old"), tmp_path)
    save_style(make_style("Old"), tmp_path, overwrite=True)
    assert not (tmp_path / "Old.json").exists()
    assert torch.equal(load_style("Old", user_dir=tmp_path, preset_dir=None).vector, make_style("Old").vector)


def test_user_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("IMITATOR_STYLE_DIR", str(tmp_path / "styles"))
    assert user_style_dir() == tmp_path / "styles"
    save_style(make_style("Env"))
    assert [e.name for e in list_styles(preset_dir=None)] == ["Env"]


def test_stale_temporaries_are_removed(tmp_path):
    path = save_style(make_style("Ada"), tmp_path)
    style_dir = path.parent.parent
    tmp = style_dir / ".tmp-dead"
    tmp.mkdir()
    (tmp / "style.safetensors").write_bytes(b"half")
    assert remove_stale_temporaries(tmp_path, older_than=3600) == 0  # maybe a live writer: kept
    os.utime(tmp, (time.time() - 7200, time.time() - 7200))
    assert remove_stale_temporaries(tmp_path, older_than=3600) == 1 and not tmp.exists()
    tmp.mkdir()
    save_style(make_style("Ada"), tmp_path, overwrite=True)  # a save of that style clears them at once
    assert not tmp.exists()


# --- concurrency and crashes (issue item 5) --------------------------------------------------------------
# Each writer's style is self-describing: every tensor is filled with the writer's number and the
# description is that number, so a reader can tell whether weights and JSON came from one save.
def _style_of(writer: int, n_vertices: int = 2000) -> Style:
    v = float(writer)
    return Style(StyleMeta("Shared", description=str(writer)), torch.full((n_vertices, 3), v), torch.full((64,), v),
                 torch.full((3 * n_vertices, 64), v), torch.full((3 * n_vertices,), v))


def _writer(folder, writer, rounds, overwrite, start, results):
    start.wait()
    ok = 0
    for r in range(rounds):
        style = _style_of(writer, 50)
        style.meta.name = f"Round {r}" if not overwrite else "Shared"
        try:
            save_style(style, folder, overwrite=overwrite, preset_dir=None)
            ok += 1
        except StyleNameTakenError:
            pass
    results.put((writer, ok))


def _reader(folder, seconds, start, results):
    start.wait()
    checked, mixed, failed = 0, 0, 0
    end = time.time() + seconds
    while time.time() < end:
        try:
            st = load_style("Shared", user_dir=folder, preset_dir=None)
        except StyleNotFoundError:
            continue
        except Exception as e:  # noqa: BLE001 (counted: any failure to read is what we are testing for)
            failed += 1
            print("reader:", repr(e))
            continue
        checked += 1
        values = {float(st.template[0, 0]), float(st.vector[0]), float(st.basis_weight_delta[0, 0])}
        mixed += values != {float(st.meta.description)}
    results.put(("reader", checked, mixed, failed))


def test_concurrent_overwrites_are_atomic_as_a_unit(tmp_path):
    ctx = mp.get_context("fork")
    start, results = ctx.Barrier(3), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(tmp_path, w, 60, True, start, results)) for w in (1, 2)]
    procs.append(ctx.Process(target=_reader, args=(tmp_path, 3.0, start, results)))
    for p in procs:
        p.start()
    out = [results.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(10)
    writers = {o[0]: o[1] for o in out if o[0] != "reader"}
    reader = [o for o in out if o[0] == "reader"][0]
    assert writers == {1: 60, 2: 60}  # no save failed on another's temporary file
    assert reader[1] > 20 and reader[2] == 0 and reader[3] == 0, reader
    assert len(files_under(tmp_path)) == 2


def test_concurrent_creates_without_overwrite_let_exactly_one_win(tmp_path):
    ctx = mp.get_context("fork")
    start, results = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(tmp_path, w, 40, False, start, results)) for w in (1, 2)]
    for p in procs:
        p.start()
    wins = dict(results.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(10)
    assert wins[1] + wins[2] == 40  # each round's name was created exactly once
    for e in list_styles(tmp_path, preset_dir=None):
        st = load_style(e.name, user_dir=tmp_path, preset_dir=None)
        assert float(st.template[0, 0]) == float(st.meta.description)


def _save_forever(folder):
    writer = 1
    while True:
        writer = 3 - writer
        save_style(_style_of(writer), folder, overwrite=True, preset_dir=None)


def test_sigkill_during_saves_leaves_a_whole_style(tmp_path):
    ctx = mp.get_context("fork")
    save_style(_style_of(7), tmp_path, preset_dir=None)
    for round_ in range(8):
        p = ctx.Process(target=_save_forever, args=(tmp_path,))
        p.start()
        time.sleep(0.15 + 0.037 * round_)  # land at different points of a save
        os.kill(p.pid, signal.SIGKILL)
        p.join()
        st = load_style("Shared", user_dir=tmp_path, preset_dir=None)
        assert float(st.template[0, 0]) == float(st.basis_bias_delta[-1]) == float(st.meta.description)
    save_style(_style_of(9), tmp_path, overwrite=True, preset_dir=None)
    assert len(files_under(tmp_path)) == 2  # temporaries of the killed writers are gone
