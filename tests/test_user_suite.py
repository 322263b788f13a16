"""The suite on a user's own data and model, as a user has them: a CSV with only train and test
files, their own column names, no out-of-scope class, and a classifier they already fine-tuned."""

from __future__ import annotations

import json
import math
import random
import shutil
from pathlib import Path

import pytest

REPOSITORY = Path(__file__).resolve().parent.parent
INTENTS = {
    "weather": ["rain", "sunny", "forecast", "cold", "storm"],
    "music": ["song", "play", "album", "volume", "track"],
    "alarm": ["wake", "alarm", "morning", "snooze", "timer"],
    "food": ["pizza", "order", "dinner", "recipe", "lunch"],
}


def _write_csv(path: Path, rows: list[tuple[str, str]]) -> None:
    path.write_text("utterance,label\n" + "".join(f"{text},{label}\n" for text, label in rows))


def _dataset(folder: Path) -> None:
    rng = random.Random(0)

    def rows(count: int) -> list[tuple[str, str]]:
        return [(f"please {rng.choice(words)} {rng.choice(words)} now", label) for label, words in INTENTS.items() for _ in range(count)]

    _write_csv(folder / "train.csv", rows(12))
    _write_csv(folder / "test.csv", rows(4))


def _fine_tuned_classifier(out: Path) -> None:
    """A tiny BERT classifier over the intents, its labels in another order than the data's."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    from compressors.formats.checkpoints import load_tokenizer

    labels = ["music", "weather", "food", "alarm"]
    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                        max_position_embeddings=128, num_labels=4, id2label=dict(enumerate(labels)),
                        label2id={label: i for i, label in enumerate(labels)})
    BertForSequenceClassification(config).save_pretrained(out)
    load_tokenizer("default").save_pretrained(out)


@pytest.mark.filterwarnings("ignore::pytest.PytestAssertRewriteWarning")
def test_every_variant_reports_its_figures_on_a_users_data_and_model(pytester, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)  # the run below times, even when this one is distributed
    _dataset(pytester.path)
    _fine_tuned_classifier(pytester.path / "mine")
    pytester.makefile(".toml", suite=(
        '[data]\nfiles = { train = "train.csv", test = "test.csv" }\ntext_column = "utterance"\nlabel_column = "label"\n'
        '[model]\nbaseline = "mine"\n'
        '[timing]\npairs = 6\n'  # figures, not a gate's evidence
    ))
    # The user's own budgets (the packaged relative ones fit BERT-sized models, not this toy one);
    # none on time, which a loaded machine would break.
    pytester.makefile(".toml", budgets=(
        "[small.baseline-ort]\nmax_drop_vs_source = 0.05\n[small.baseline-ort-quantized]\nmax_size_ratio = 1.0\n"
    ))
    pytester.makeconftest('pytest_plugins = ("compressors.pytest_plugin",)\n')
    shutil.copy(REPOSITORY / "benchmarks" / "test_variants.py", pytester.path / "test_variants.py")
    result = pytester.runpytest_subprocess(
        "--profile", "small", "--suite-config", "suite.toml", "--cache-dir", str(tmp_path / "cache"),
        "--benchmark-json", "run.json", "--device", "cpu", "--budgets", "budgets.toml", "-p", "no:cacheprovider",
    )
    outcomes = result.parseoutcomes()
    assert outcomes.get("failed", 0) == 0 and outcomes.get("error", 0) == 0, result.stdout.str()[-3000:]
    run = json.loads((pytester.path / "run.json").read_text())
    from compressors.variants import VARIANT_NAMES

    figures = {b["params"]["variant"]: b["extra_info"] for b in run["benchmarks"]}
    assert set(figures) == set(VARIANT_NAMES)
    for name, info in figures.items():
        assert 0 <= info["accuracy"] <= 1 and info["size_mb"] > 0 and info["p50_ms"] > 0, name
        assert math.isnan(info["oos_recall"]), name  # no out-of-scope class
        assert name == "baseline" or info["speedup"] > 0, name
    assert figures["baseline"]["meta_reordered_head"] is True
    suite = run["machine_info"]["suite"]
    assert suite["data"]["validation"].startswith("held out 10% of each class's training rows")
    assert suite["device"] == "cpu" and suite["timing"]["pairs"] == 6
    assert all(len(info["paired_ratios"]) == 6 for name, info in figures.items() if name != "baseline")
    result.stdout.fnmatch_lines(["*built use-classifier-*", "*| all |*"])
