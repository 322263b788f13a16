"""Published figures: the generated blocks of the project's Markdown, rebuilt from committed runs.

A block sits between two HTML comments (Markdown hides them), each on a line of its own:

    <!-- table: headline source=docs/results/2026-12-05-epyc-avx512/small.json variants=baseline,distilled -->
    (generated: the run's date and machine, then one row per variant)
    <!-- end table -->

    <!-- budget-keys -->
    (generated: the budget keys, from `compressors.measure.budgets.LIMITS`)
    <!-- end budget-keys -->

A table's `source` is a pytest-benchmark JSON run, relative to the repository root, or a seed
study written by `compressors seeds --out` (then each row is a variant's seed spread); `variants`
lists its rows in order. `render_text` rebuilds every block of a file; `check_text` names each
block whose text differs from what its source gives now, so a figure is never typed by hand and
never appears with two values. `compressors docs --check / --write` runs them over README.md and
docs/.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from compressors.history.runs import HistoryError, SavedRun, load_run
from compressors.measure.budgets import budget_keys_markdown
from compressors.measure.figures import Figures, format_drop, format_number, format_speedup
from compressors.measure.spread import Spread

TABLE = "table"
BUDGET_KEYS = "budget-keys"
_OPEN = re.compile(r"^<!-- (?:table: (?P<name>[A-Za-z0-9_.-]+)(?P<options>(?: +[a-z]+=\S+)*)|(?P<keys>budget-keys)) -->$")
_CLOSE = {TABLE: "<!-- end table -->", BUDGET_KEYS: "<!-- end budget-keys -->"}
_ANY_MARKER = re.compile(r"^<!-- (?:table:|budget-keys|end table|end budget-keys)")
TABLE_OPTIONS = ("source", "variants")
COLUMNS = ("variant", "accuracy", "drop, points (paired 95% CI)", "in-scope", "OOS recall", "size MB", "size ratio",
           "speed-up (paired, 95% CI)", "cost ratio")
SEED_COLUMNS = ("variant", "test accuracy", "in-scope", "OOS recall", "validation accuracy")


class DocsError(ValueError):
    """A generated block that cannot be rendered: a bad marker, a missing run or variant."""


@dataclass(frozen=True)
class Block:
    """One generated block of a Markdown file.

    Attributes:
        kind: `TABLE` or `BUDGET_KEYS`.
        name: the table's name (the block kind for the budget keys).
        line: 1-based line of the opening marker.
        first, last: the body's lines are `lines[first:last]` (between the two markers).
        source: the run a table is rendered from, relative to the repository root.
        variants: the table's rows, in order.
    """

    kind: str
    name: str
    line: int
    first: int
    last: int
    source: str = ""
    variants: tuple[str, ...] = ()


def find_blocks(text: str, where: str = "<text>") -> list[Block]:
    """Every generated block of a Markdown text, in order; markers inside fenced code blocks are not blocks.

    Raises:
        DocsError: a marker that is malformed, unclosed, nested, or a table without its options.
    """
    lines = text.splitlines()
    blocks: list[Block] = []
    index = 0
    fenced = False
    while index < len(lines):
        line = lines[index].strip()
        if line.startswith(("```", "~~~")):
            fenced = not fenced  # markers shown inside a code block are examples, not blocks
        if fenced or not _ANY_MARKER.match(line):
            index += 1
            continue
        opening = _OPEN.match(line)
        if opening is None:
            raise DocsError(f"{where}:{index + 1}: unexpected or malformed marker {line!r}")
        kind = BUDGET_KEYS if opening["keys"] else TABLE
        end = next((j for j in range(index + 1, len(lines)) if _ANY_MARKER.match(lines[j].strip())), None)
        if end is None or lines[end].strip() != _CLOSE[kind]:
            raise DocsError(f"{where}:{index + 1}: {line!r} needs {_CLOSE[kind]!r} before any other marker")
        if kind == TABLE:
            blocks.append(_table_block(opening["name"], opening["options"], where, index, end))
        else:
            blocks.append(Block(BUDGET_KEYS, BUDGET_KEYS, index + 1, index + 1, end))
        index = end + 1
    return blocks


def _table_block(name: str, options_text: str, where: str, index: int, end: int) -> Block:
    options: dict[str, str] = {}
    for item in options_text.split():
        key, value = item.split("=", 1)
        if key not in TABLE_OPTIONS:
            raise DocsError(f"{where}:{index + 1}: table '{name}': unknown option '{key}'; known options: {', '.join(TABLE_OPTIONS)}")
        options[key] = value
    missing = [key for key in TABLE_OPTIONS if not options.get(key)]
    if missing:
        raise DocsError(f"{where}:{index + 1}: table '{name}' needs {' and '.join(missing)}, e.g. "
                        "source=docs/results/<date>-<machine>/<profile>.json variants=baseline,distilled")
    variants = tuple(v for v in options["variants"].split(",") if v)
    return Block(TABLE, name, index + 1, index + 1, end, options["source"], variants)


def machine_line(run: SavedRun) -> str:
    """When and where a run was measured, in one sentence: date, CPU, cores, int8 flags, threads, profile, libraries."""
    info = run.machine_info
    cpu = info.get("cpu_model") or (info.get("cpu") or {}).get("brand_raw") or "unknown CPU"
    flags = [flag.upper().replace("_", "-") for flag, present in (info.get("int8_flags") or {}).items() if present]
    facts = [f"{info['cpu_count']} cores" if info.get("cpu_count") else "", ", ".join(flags)]
    threads = info.get("threads")
    versions = info.get("versions") or {}
    libraries = ", ".join(f"{name} {versions[name]}" for name in ("torch", "onnxruntime") if versions.get(name))
    profile = (info.get("suite") or {}).get("profile") or run.profile
    parts = [
        f"Measured {run.datetime.date().isoformat()} on {cpu}",
        f" ({'; '.join(fact for fact in facts if fact)})" if any(facts) else "",
        f", {threads} measuring thread{'s' if threads != 1 else ''}" if isinstance(threads, int) else "",
        f", {profile} profile" if profile else "",
        f", {libraries}" if libraries else "",
    ]
    return "".join(parts) + "."


def figures_row(figures: Figures) -> str:
    """One variant's row of a published table."""
    cells = (
        f"`{figures.variant}`", format_number(figures.accuracy), format_drop(figures), format_number(figures.in_scope_accuracy),
        format_number(figures.oos_recall), format_number(figures.size_mb, ".1f"), format_number(figures.size_ratio, ".3f"),
        format_speedup(figures), format_number(figures.cost_ratio, ".2f"),
    )
    return "| " + " | ".join(cells) + " |"


def render_table(run: SavedRun, variants: Sequence[str], source: str) -> str:
    """A published table: the run's date and machine, then one row per variant, in the order given.

    Raises:
        DocsError: a variant the run does not hold.
    """
    missing = [v for v in variants if v not in run.benchmarks]
    if missing:
        raise DocsError(f"{source} has no variant {', '.join(repr(v) for v in missing)}; it holds {', '.join(run.benchmarks)}")
    rows = [figures_row(run.benchmarks[v].figures()) for v in variants]
    header = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    return "\n".join([f"{machine_line(run)} Source: `{source}`.", "", *header, *rows])


def render_block(block: Block, root: Path) -> str:
    """The body a block should have now (without its markers)."""
    if block.kind == BUDGET_KEYS:
        return budget_keys_markdown()
    path = root / block.source
    if not path.is_file():
        raise DocsError(f"its run {block.source} does not exist: commit the run, or point the table at one")
    study = _seed_study(path)
    if study is not None:
        return render_seed_table(study, block.variants, block.source)
    try:
        run = load_run(path)
    except HistoryError as error:
        raise DocsError(str(error)) from None
    return render_table(run, block.variants, block.source)


def _seed_study(path: Path) -> dict | None:
    """The seed study a file holds (`compressors seeds --out`), or None when it is something else (a run)."""
    import json

    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return raw if isinstance(raw, dict) and "benchmarks" not in raw and isinstance(raw.get("variants"), dict) else None


def render_seed_table(study: dict, variants: Sequence[str], source: str) -> str:
    """A published seed spread: per variant, each figure's mean ± deviation (range) over the seeds, in points."""
    missing = [v for v in variants if v not in study["variants"]]
    if missing:
        raise DocsError(f"{source} has no variant {', '.join(repr(v) for v in missing)}; it holds {', '.join(study['variants'])}")
    rows = []
    for name in variants:
        spread = {figure: Spread(**raw) for figure, raw in study["variants"][name]["spread"].items()}
        cells = [spread[f].describe() for f in ("accuracy", "in_scope_accuracy", "oos_recall", "validation_accuracy")]
        rows.append("| " + " | ".join([f"`{name}`", *cells]) + " |")
    seeds = sorted(int(seed) for seed in study["variants"][variants[0]]["seeds"]) if variants else []
    head = (f"Seeds {', '.join(map(str, seeds))}, {study.get('profile', '?')} profile, measured {study.get('date', '?')} on "
            f"{(study.get('machine') or {}).get('cpu', 'unknown CPU')}; in points, mean ± sample deviation (lowest-highest). "
            f"Source: `{source}`.")
    header = ["| " + " | ".join(SEED_COLUMNS) + " |", "|" + "---|" * len(SEED_COLUMNS)]
    return "\n".join([head, "", *header, *rows])


@dataclass(frozen=True)
class Rendered:
    """A file's text with its blocks rebuilt, and what could not be rebuilt or was stale."""

    text: str
    stale: tuple[str, ...]
    errors: tuple[str, ...]


def render_text(text: str, root: Path, where: str = "<text>") -> Rendered:
    """Rebuild every block of `text`; a block that cannot be rendered keeps its text and is reported.

    Args:
        text: a Markdown file's content.
        root: the repository root, which table sources are relative to.
        where: the file's name in messages.
    """
    try:
        blocks = find_blocks(text, where)
    except DocsError as error:
        return Rendered(text, (), (str(error),))
    lines = text.splitlines()
    out: list[str] = []
    stale: list[str] = []
    errors: list[str] = []
    done = 0
    for block in blocks:
        out += lines[done:block.first]
        label = f"{where}:{block.line}: {block.kind if block.kind == BUDGET_KEYS else f'table {block.name!r}'}"
        try:
            body = render_block(block, root).splitlines()
        except DocsError as error:
            errors.append(f"{label}: {error}")
            body = lines[block.first:block.last]
        if body != lines[block.first:block.last]:
            stale.append(label + (f" (from {block.source})" if block.source else ""))
        out += body
        done = block.last
    out += lines[done:]
    new = "\n".join(out) + ("\n" if text.endswith("\n") else "")
    return Rendered(new, tuple(stale), tuple(errors))


def documents(root: Path) -> list[Path]:
    """The Markdown files that may hold generated blocks: README.md, CHANGELOG.md and everything under docs/."""
    candidates = [root / "README.md", root / "CHANGELOG.md", *sorted((root / "docs").rglob("*.md"))]
    return [path for path in candidates if path.is_file()]

