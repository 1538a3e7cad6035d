import os
import time

import pytest

from imitator.limits import LimitsConfigError
from imitator.outputs import OutputRetention, clean_outputs, new_output_dir


def test_only_the_newest_are_kept(tmp_path):
    keep = OutputRetention(keep_last=3, max_minutes=60)
    made = []
    for i in range(6):
        made.append(new_output_dir("anim", tmp_path, keep))
        os.utime(made[-1], (time.time() - 60 + i, time.time() - 60 + i))  # distinct ages, oldest first
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in made[-3:])


def test_old_ones_expire_even_when_few(tmp_path):
    old = new_output_dir("anim", tmp_path)
    os.utime(old, (time.time() - 3 * 3600, time.time() - 3 * 3600))
    fresh = new_output_dir("anim", tmp_path, OutputRetention(keep_last=10, max_minutes=60))
    assert not old.exists() and fresh.exists()
    assert clean_outputs(tmp_path, OutputRetention(keep_last=10, max_minutes=60)) == 0
    (tmp_path / "unrelated").mkdir()  # only our own folders are ever removed
    os.utime(fresh, (0, 0))
    assert clean_outputs(tmp_path) == 1 and (tmp_path / "unrelated").exists()


def test_retention_from_environment():
    assert OutputRetention.from_env({"IMITATOR_KEEP_OUTPUTS": "5", "IMITATOR_OUTPUT_MINUTES": "2"}) == \
        OutputRetention(5, 2.0)
    assert OutputRetention(5, 2.0).gradio_delete_cache() == (60, 120)
    for bad in ({"IMITATOR_KEEP_OUTPUTS": "0"}, {"IMITATOR_OUTPUT_MINUTES": "soon"}):
        with pytest.raises(LimitsConfigError):
            OutputRetention.from_env(bad)
