"""Data loading: CLINC150 schema, label order and split sizes; user files and their errors."""

from __future__ import annotations

import json

import pytest

from compressors.data import (
    FIXTURE_DIR,
    DataConfig,
    DataError,
    fingerprint,
    load_clinc150,
    load_data,
    load_vendored_clinc150,
    stratified_slice,
)


@pytest.fixture(scope="module")
def clinc():
    return load_vendored_clinc150()


def test_clinc150_split_sizes(clinc) -> None:
    assert {split: len(clinc[split]) for split in clinc} == {"train": 15250, "validation": 3100, "test": 5500}


def test_clinc150_schema_and_hub_label_order(clinc) -> None:
    features = clinc["train"].features
    assert list(features) == ["text", "intent"]
    names = features["intent"].names
    assert names == json.loads((FIXTURE_DIR / "labels.json").read_text())
    assert len(names) == 151 and names.index("oos") == 42 and names.index("transfer") == 133


def test_clinc150_rows_follow_the_hub_order(clinc) -> None:
    # train = train + oos_train: the 250 out-of-scope rows close the split.
    oos = clinc["train"].features["intent"].str2int("oos")
    labels = clinc["train"]["intent"]
    assert labels[-250:] == [oos] * 250 and oos not in labels[:15000]
    assert clinc["train"][0]["text"] == "what expression would i use to say i love you if i were an italian"
    assert clinc["test"]["intent"][-1000:] == [oos] * 1000


def test_an_unreachable_hub_falls_back_to_the_vendored_copy(monkeypatch, clinc) -> None:
    import compressors.data as data

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    tried = []

    def unreachable(*args):
        tried.append(args)
        raise ConnectionError("Couldn't reach 'clinc_oos' on the Hub")

    monkeypatch.setattr(data, "load_hub", unreachable)
    assert fingerprint(load_clinc150()) == fingerprint(clinc)
    assert tried == [("clinc_oos", "plus", "text", "intent")]


def test_offline_the_hub_is_not_tried(monkeypatch, clinc) -> None:
    import compressors.data as data

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(data, "load_hub", lambda *args: pytest.fail("the Hub was tried offline"))
    assert fingerprint(load_clinc150()) == fingerprint(clinc)


def test_stratified_slice_keeps_per_class_counts_in_order(clinc) -> None:
    sliced = stratified_slice(clinc, {"train": 3})
    labels = sliced["train"]["intent"]
    assert len(labels) == 151 * 3
    assert all(labels.count(c) == 3 for c in set(labels))
    assert len(sliced["test"]) == 5500


def _write(path, text):
    path.write_text(text)
    return str(path)


def test_csv_and_jsonl_files_with_custom_columns(tmp_path) -> None:
    files = {
        "train": _write(tmp_path / "train.csv", "utterance,label\nhi there,greet\nbye now,leave\nhello,greet\n"),
        "validation": _write(tmp_path / "val.jsonl", '{"utterance": "hey", "label": "greet"}\n'),
        "test": _write(tmp_path / "test.jsonl", '{"utterance": "see you", "label": "leave"}\n\n'),
    }
    data = load_data(DataConfig(files=files, text_column="utterance", label_column="label", oos_label=""))
    assert data["train"].features["intent"].names == ["greet", "leave"]
    assert data["train"]["intent"] == [0, 1, 0]
    assert data["test"][0] == {"text": "see you", "intent": 1}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("val.csv", "text,intent\nhi,greet\nwhat,unknown_label\n", r"val.csv, row 3: label 'unknown_label'"),
        ("val.csv", "", r"val.csv: the file holds no rows"),
        ("val.csv", "text,other\nhi,greet\n", r"val.csv, row 2: missing column 'intent'"),
        ("val.jsonl", '{"text": "hi", "intent": "greet"}\nnot json\n', r"val.jsonl, row 2: not valid JSON"),
        ("val.csv", "text,intent\n,greet\n", r"val.csv, row 2: column 'text' must be non-empty"),
        ("val.txt", "hi\n", r"unsupported file type '.txt'"),
    ],
)
def test_bad_files_name_the_file_and_row(tmp_path, name, content, message) -> None:
    files = {
        "train": _write(tmp_path / "train.csv", "text,intent\nhi,greet\n"),
        "validation": _write(tmp_path / name, content),
        "test": _write(tmp_path / "test.csv", "text,intent\nyo,greet\n"),
    }
    with pytest.raises(DataError, match=message):
        load_data(DataConfig(files=files, oos_label=""))


def test_missing_split_and_missing_oos_class_are_explained(tmp_path) -> None:
    with pytest.raises(DataError, match="must name the splits train and test, and may name validation"):
        DataConfig(files={"train": "a.csv"})
    files = {s: _write(tmp_path / f"{s}.csv", "text,intent\nhi,greet\n") for s in ("train", "validation", "test")}
    with pytest.raises(DataError, match="out-of-scope label 'oos' is not a class"):
        load_data(DataConfig(files=files))


def _train_and_test(tmp_path, per_class: dict[str, int]) -> dict[str, str]:
    rows = "".join(f"{label} query {i},{label}\n" for label, count in per_class.items() for i in range(count))
    return {
        "train": _write(tmp_path / "train.csv", "text,intent\n" + rows),
        "test": _write(tmp_path / "test.csv", "text,intent\n" + "".join(f"{label} test,{label}\n" for label in per_class)),
    }


def test_without_a_validation_file_a_stratified_seeded_fraction_of_train_is_held_out(tmp_path) -> None:
    files = _train_and_test(tmp_path, {"book": 20, "cancel": 10, "greet": 3})
    data = load_data(DataConfig(files=files, oos_label=""))
    names = data["train"].features["intent"].names
    held = [names[i] for i in data["validation"]["intent"]]
    assert sorted(held) == ["book", "book", "cancel", "greet"]  # 10% rounded, at least one per class
    assert len(data["train"]) + len(data["validation"]) == 33
    assert not set(data["train"]["text"]) & set(data["validation"]["text"])
    again = load_data(DataConfig(files=files, oos_label=""))
    assert again["validation"]["text"] == data["validation"]["text"]  # seeded
    other = load_data(DataConfig(files=files, oos_label="", split_seed=7))
    assert other["validation"]["text"] != data["validation"]["text"]
    assert fingerprint(other) != fingerprint(data)  # the hold-out is part of every cache key
    assert DataConfig(files=files).describe()["validation"].startswith("held out 10% of each class's training rows")


def test_classes_too_small_to_split_are_named(tmp_path) -> None:
    files = _train_and_test(tmp_path, {"book": 20, "cancel": 1, "greet": 1})
    with pytest.raises(DataError, match=r"2 class\(es\) have fewer than 2 training rows \('cancel', 'greet'\)"):
        load_data(DataConfig(files=files, oos_label=""))
