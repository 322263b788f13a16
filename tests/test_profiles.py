"""Profiles and user configuration files."""

from __future__ import annotations

import pytest

from compressors.profiles import SMALL, apply_user_config, get_profile


def test_unknown_profile_suggests_the_nearest() -> None:
    with pytest.raises(ValueError, match="unknown profile 'smal'; did you mean 'small'"):
        get_profile("smal")


def test_user_config_points_the_suite_at_own_files_and_checkpoint(tmp_path) -> None:
    config = tmp_path / "suite.toml"
    config.write_text(
        '[data]\nfiles = {train = "t.csv", validation = "v.csv", test = "e.csv"}\n'
        'text_column = "utterance"\noos_label = ""\n[model]\ncheckpoint = "bert-base-uncased"\n'
    )
    profile = apply_user_config(SMALL, config)
    assert profile.checkpoint == "bert-base-uncased"
    assert profile.data.files["train"] == str(tmp_path / "t.csv")
    assert profile.data.text_column == "utterance" and profile.data.oos_label == ""
    assert profile.data.per_class == SMALL.data.per_class


@pytest.mark.parametrize(
    ("text", "message"),
    [("[dataa]\n", r"unknown table \[dataa\]"), ("[data]\ntext_col = 'x'\n", r"unknown key\(s\) \['text_col'\]")],
)
def test_bad_user_config_is_explained(tmp_path, text, message) -> None:
    config = tmp_path / "suite.toml"
    config.write_text(text)
    with pytest.raises(ValueError, match=message):
        apply_user_config(SMALL, config)
