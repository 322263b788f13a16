"""The did-you-mean hint shared by every error about an unknown name."""

from __future__ import annotations

from compressors.names import did_you_mean


def test_a_near_miss_names_the_closest_option() -> None:
    options = ("ort", "ort-quantized", "ort-static")
    assert did_you_mean("ort-quantised", options) == "; did you mean 'ort-quantized'?"
    assert did_you_mean("ort-statc", iter(options)) == "; did you mean 'ort-static'?"  # any iterable, read once


def test_nothing_close_gives_no_hint() -> None:
    assert did_you_mean("latency", ("accuracy", "size_mb")) == ""
    assert did_you_mean("anything", ()) == ""


def test_the_hint_quotes_the_option_as_python_would() -> None:
    assert did_you_mean("its", ["it's"]) == """; did you mean "it's"?"""
