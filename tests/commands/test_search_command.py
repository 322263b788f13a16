"""`compressors search`: unreadable options refused in one line; the real path on a tiny model of a user's
data, through the suite's cache, its front written, resumed from its stored trials, its choice registered."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from compressors.cli import main

INTENTS = {"weather": ["rain", "sunny", "forecast"], "music": ["song", "play", "album"], "alarm": ["wake", "alarm", "snooze"]}


@pytest.mark.parametrize("option, value, message", [
    ("--max-accuracy-drop", "half a point", "--max-accuracy-drop: max_accuracy_drop must be a fraction in [0, 1)"),
    ("--max-accuracy-drop", "5", "--max-accuracy-drop: max_accuracy_drop must be a fraction"),
    ("--objective", "fastest", "--objective: objective must be one of speed, size, both; got 'fastest'"),
    ("--speed", "stopwatch", "--speed: speed must be paired or cost"),
    ("--time-budget", "a while", "--time-budget: time budget must be seconds"),
])
def test_an_unreadable_option_is_refused_in_one_line(tmp_path, capsys, option, value, message) -> None:
    code = main(["search", "--profile", "small", "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / "out"), option, value])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith(f"compressors search: error: {message}") and err.count("\n") == 1
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())  # refused before building anything


def test_an_unreadable_search_table_is_refused_in_one_line(tmp_path, capsys) -> None:
    (tmp_path / "suite.toml").write_text('[search]\nmax_accuracy_drop = "lots"\n')
    code = main(["search", "--profile", "small", "--suite-config", str(tmp_path / "suite.toml"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "[search] max_accuracy_drop must be a fraction" in err and err.count("\n") == 1


def _user_project(folder: Path) -> Path:
    """A user's CSV data (no out-of-scope class), a tiny fine-tuned classifier, a suite config with a small [search] space."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from compressors.formats.checkpoints import load_tokenizer

    rng = random.Random(0)
    for split, count in (("train", 10), ("test", 3)):
        rows = [f"please {rng.choice(w)} {rng.choice(w)} now,{label}\n" for label, w in INTENTS.items() for _ in range(count)]
        (folder / f"{split}.csv").write_text("text,label\n" + "".join(rows))
    torch.manual_seed(0)
    labels = list(INTENTS)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
                        max_position_embeddings=64, num_labels=3, id2label=dict(enumerate(labels)),
                        label2id={label: i for i, label in enumerate(labels)})
    BertForSequenceClassification(config).save_pretrained(folder / "mine")
    load_tokenizer("default").save_pretrained(folder / "mine")
    suite = folder / "suite.toml"
    suite.write_text(
        '[data]\nfiles = { train = "train.csv", test = "test.csv" }\nlabel_column = "label"\n[model]\nbaseline = "mine"\n[timing]\npairs = 6\n'
        '[search]\nmax_accuracy_drop = 0.99\n'  # a random toy model: the floor is not what this test checks
        + 'sources = ["baseline"]\ntrim = [false]\nquantizations = ["torch-dynamic", "ort-dynamic"]\n'
        'per_channel = [false]\nreduce_range = [false]\nweight_types = ["int8", "uint8"]\n'
    )
    return suite


def test_the_search_runs_on_a_users_model_resumes_and_registers_its_choice(tmp_path, capsys, monkeypatch) -> None:
    from compressors.chains import chosen

    monkeypatch.setattr(chosen, "CHOSEN", tmp_path / "chosen.json")
    suite = _user_project(tmp_path)
    args = ["search", "--profile", "small", "--suite-config", str(suite), "--cache-dir", str(tmp_path / "cache"),
            "--device", "cpu", "--out", str(tmp_path / "out")]
    assert main([*args, "--register"]) == 0
    first = capsys.readouterr().out
    assert [line.split(" ")[2] for line in first.splitlines() if line.startswith("search ") and "/3 " in line].count("assess") == 3
    front = json.loads((tmp_path / "out" / "front.json").read_text())
    names = {t["name"] for t in front["trials"]}
    assert names == {"baseline/torch-dynamic", "baseline/ort-dynamic", "baseline/ort-dynamic-u8u8"}
    assert all(t["stage"] >= 2 and t["speedup"] > 0 and 0 < t["size_ratio"] < 1 for t in front["trials"])
    assert front["chosen"] in names and (tmp_path / "out" / "front.png").stat().st_size > 0
    assert f"registered {front['chosen']} as the `searched` variant of the small profile" in first
    recorded = chosen.read_choices(tmp_path / "chosen.json")["small"]
    assert recorded.candidate.name == front["chosen"]

    assert main(args) == 0  # resumed: every stage is in the store, nothing is assessed or timed again
    second = capsys.readouterr().out
    assert not [line for line in second.splitlines() if line.startswith("search ") and "/3 " in line]
    assert json.loads((tmp_path / "out" / "front.json").read_text())["chosen"] == front["chosen"]
