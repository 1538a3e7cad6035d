import json

import pytest
import torch

from imitator.errors import CorruptStyleError, StyleError, StyleModelMismatchError, StyleNotFoundError
from imitator.style_store import delete_style, list_styles, load_style, save_style, user_style_dir
from imitator.styles import Style, StyleMeta


def make_style(name="Ada", model_id="m1", with_basis=True):
    torch.manual_seed(len(name))
    return Style(StyleMeta(name=name, description="test", model_id=model_id, fit={"fit_l2_mm": 0.5}),
                 torch.randn(10, 3), torch.randn(64),
                 torch.randn(30, 64) if with_basis else None, torch.randn(30) if with_basis else None)


def test_round_trip(tmp_path):
    st = make_style()
    save_style(st, tmp_path)
    back = load_style("Ada", model_id="m1", user_dir=tmp_path, preset_dir=None)
    assert torch.equal(back.template, st.template) and torch.equal(back.vector, st.vector)
    assert torch.equal(back.basis_weight_delta, st.basis_weight_delta)
    assert back.meta.fit == {"fit_l2_mm": 0.5} and back.meta.created
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Ada.json", "Ada.safetensors"]  # no temp files


def test_style_without_basis(tmp_path):
    save_style(make_style(with_basis=False), tmp_path)
    assert load_style("Ada", user_dir=tmp_path, preset_dir=None).basis_weight_delta is None


@pytest.mark.parametrize("bad", ["../evil", "a/b", "", " ", ".hidden", "x" * 65, "a\\b", "nul\x00"])
def test_unsafe_names_are_refused(tmp_path, bad):
    with pytest.raises(StyleError, match="invalid style name"):
        save_style(make_style(name=bad), tmp_path)
    assert not list(tmp_path.parent.glob("evil*"))


def test_existing_name_is_not_overwritten_by_accident(tmp_path):
    save_style(make_style(), tmp_path)
    with pytest.raises(StyleError, match="already exists"):
        save_style(make_style(), tmp_path)
    save_style(make_style(), tmp_path, overwrite=True)


def test_style_for_another_model_is_a_clear_error(tmp_path):
    save_style(make_style(model_id="aaaa"), tmp_path)
    with pytest.raises(StyleModelMismatchError, match="made for model aaaa"):
        load_style("Ada", model_id="bbbb", user_dir=tmp_path, preset_dir=None)


def test_unknown_style_lists_the_available_ones(tmp_path):
    save_style(make_style("Bob"), tmp_path)
    with pytest.raises(StyleNotFoundError, match="available: Bob"):
        load_style("Nobody", user_dir=tmp_path, preset_dir=None)


def test_corrupted_files_never_block_other_styles(tmp_path):
    for name in ("Good", "BadWeights", "BadJson"):
        save_style(make_style(name), tmp_path)
    (tmp_path / "BadWeights.safetensors").write_bytes(b"\x00garbage" * 10)
    (tmp_path / "BadJson.json").write_text("{not json")
    entries = {e.name: e for e in list_styles(tmp_path, preset_dir=None)}
    assert entries["Good"].error is None
    assert "damaged" in entries["BadJson"].error
    assert load_style("Good", user_dir=tmp_path, preset_dir=None).name == "Good"
    with pytest.raises(CorruptStyleError, match="weights file is damaged"):
        load_style("BadWeights", user_dir=tmp_path, preset_dir=None)
    with pytest.raises(CorruptStyleError, match="metadata file BadJson.json is damaged"):
        load_style("BadJson", user_dir=tmp_path, preset_dir=None)


def test_half_written_style_is_not_listed(tmp_path):
    save_style(make_style("Whole"), tmp_path)
    (tmp_path / "Half.safetensors").write_bytes(b"partial")  # a crash before the JSON was renamed in
    (tmp_path / ".Half.json.tmp").write_text("{}")
    assert [e.name for e in list_styles(tmp_path, preset_dir=None)] == ["Whole"]


def test_delete_and_presets(tmp_path):
    presets, user = tmp_path / "presets", tmp_path / "user"
    save_style(make_style("Preset1"), presets)
    save_style(make_style("Mine"), user)
    assert [(e.name, e.kind) for e in list_styles(user, presets)] == [("Preset1", "preset"), ("Mine", "user")]
    delete_style("Mine", user)
    assert [e.name for e in list_styles(user, presets)] == ["Preset1"]
    with pytest.raises(StyleNotFoundError, match="presets cannot be deleted"):
        delete_style("Preset1", user)


def test_user_dir_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("IMITATOR_STYLE_DIR", str(tmp_path / "styles"))
    assert user_style_dir() == tmp_path / "styles"
    save_style(make_style("Env"))
    assert json.loads((tmp_path / "styles" / "Env.json").read_text())["name"] == "Env"
