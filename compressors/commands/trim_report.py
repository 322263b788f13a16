"""`compressors trim-report`: what trimming the vocabulary to the training split would drop.

    compressors trim-report --profile full

Prints how many ids `TrimVocabulary` keeps, and for each split (and its out-of-scope queries)
the share of queries that contain a dropped id and the share of tokens that are dropped ids:
the queries whose words get re-spelled with the kept pieces. Reads the data and the tokenizer
of the profile's checkpoint; builds nothing.
"""

from __future__ import annotations

import argparse
import sys

from typing import TYPE_CHECKING

from compressors.data import LABEL, TEXT, load_data
from compressors.formats.checkpoints import load_tokenizer
from compressors.suite.settings import add_profile_options

if TYPE_CHECKING:
    from compressors.profiles import Profile
    from compressors.steps.trim_vocabulary import DroppedShare, TrimVocabulary

NAME = "trim-report"
SUMMARY = "how many queries a vocabulary trimmed to the training split would re-spell"


def trim_report(profile: Profile, config: TrimVocabulary) -> tuple[int, int, dict[str, DroppedShare]]:
    """(kept ids, vocabulary size, {split or "<split> out-of-scope": share}) for a profile."""
    from compressors.steps.trim_vocabulary import dropped_share, kept_token_ids

    data = load_data(profile.data)
    tokenizer = load_tokenizer(profile.checkpoint)
    kept = kept_token_ids(tokenizer, data["train"][TEXT], config)
    shares = {}
    names = data["train"].features[LABEL].names
    oos = names.index(profile.data.oos_label) if profile.data.oos_label in names else None
    for split in ("validation", "test"):
        texts = data[split][TEXT]
        shares[split] = dropped_share(tokenizer, kept, texts)
        if oos is not None:
            oos_texts = [t for t, label in zip(texts, data[split][LABEL]) if label == oos]
            shares[f"{split} out-of-scope"] = dropped_share(tokenizer, kept, oos_texts)
    return len(kept), len(tokenizer.get_vocab()), shares


def format_report(kept: int, vocabulary: int, shares: dict[str, DroppedShare]) -> str:
    lines = [
        f"TrimVocabulary keeps {kept:,} of {vocabulary:,} ids.",
        "",
        "| texts | count | with a dropped id | dropped tokens |",
        "|---|---|---|---|",
    ]
    for name, share in shares.items():
        lines.append(f"| {name} | {share.texts:,} | {share.texts_with_dropped:.1%} | {share.tokens_dropped:.2%} |")
    return "\n".join(lines)


def configure(parser: argparse.ArgumentParser) -> None:
    add_profile_options(parser)
    parser.add_argument("--min-count", type=int, default=1, help="TrimVocabulary.min_count (default 1)")
    parser.add_argument("--keep-frequent", type=int, default=0, help="TrimVocabulary.keep_frequent (default 0)")


def run(args: argparse.Namespace) -> int:
    # Trimming needs the tokenizer libraries: they load here, not when the CLI starts.
    from compressors.steps.trim_vocabulary import TrimVocabulary
    from compressors.suite.settings import resolve_suite

    try:
        profile = resolve_suite(args).profile
        config = TrimVocabulary(min_count=args.min_count, keep_frequent=args.keep_frequent)
    except ValueError as error:
        print(f"compressors trim-report: error: {error}", file=sys.stderr)
        return 2
    print(format_report(*trim_report(profile, config)))
    return 0
