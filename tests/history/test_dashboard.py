"""`compressors report --html`: the static dashboard, as HTML and as a headless Chromium shows it."""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from saved_runs_support import VARIANTS, make_run, write_run

from compressors.cli import main
from compressors.history.dashboard import PAGE_NAME, TRENDS, render_dashboard, write_dashboard
from compressors.history.runs import GATE_KEY, load_runs, save_run
from compressors.measure.figures import TABLE_COLUMNS

HOSTILE = '<script>alert("x")</script>&<b>'
# Where the browser test keeps its screenshots (default: the test's tmp dir); `docs` refreshes docs/dashboard.png.
SCREENSHOT_DIR = "COMPRESSORS_SCREENSHOT_DIR"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]


def history(path: Path, count: int, slow_from: int, joins_at: int) -> Path:
    """`count` gated runs: the student slows down from run `slow_from` on (and that run fails the gate), a new variant joins at `joins_at`."""
    wide = {**VARIANTS, "frontier": (1.5, 0.86, 8.0)}
    for index in range(1, count + 1):
        slow = index >= slow_from
        data = make_run(
            index, slowdown={"student": 1.6} if slow else None, variants=wide if index >= joins_at else None,
            violations={"student": ["speedup 1.25 < 1.5 (speedup_min)"]} if slow else None,
        )
        save_run({**data, GATE_KEY: {"passed": index != slow_from}}, path, f"run{index}")
    return path


@pytest.fixture()
def storage(tmp_path: Path) -> Path:
    return history(tmp_path / ".benchmarks", 6, slow_from=4, joins_at=5)


def test_every_variant_and_group_gets_a_row_and_every_figure_a_column(tmp_path: Path, storage: Path) -> None:
    other = make_run(7, variants={"baseline": (6.0, 0.9, 63.4), "only-full": (2.0, 0.8, 10.0)})
    for bench in other["benchmarks"]:
        bench["group"] = "full bs=1 threads=1"
    runs = load_runs([storage, write_run(tmp_path / "full.json", other)])
    html = render_dashboard(runs)
    trends = html.split('class="trends"')[1].split("</table>")[0]
    rows = re.findall(r'<tr data-variant="([^"]*)"><th class="variant">[^<]*<small>([^<]*)</small>', trends)
    assert rows == [
        ("baseline", "small bs=1 threads=1"), ("student", "small bs=1 threads=1"), ("distilled", "small bs=1 threads=1"),
        ("frontier", "small bs=1 threads=1"), ("baseline", "full bs=1 threads=1"), ("only-full", "full bs=1 threads=1"),
    ]
    # make_run records no instruction counts nor cost ratio: those columns are left out.
    drawn = [t.title for t in TRENDS if t.attribute not in ("cost_ratio", "instructions_per_query")]
    assert re.findall(r"<th>([^<]*)<small>", trends) == drawn
    student = trends.split('data-variant="student"')[1].split("</tr>")[0]
    assert student.count('class="chart"') == len(drawn) and student.count("<circle") == 6 * len(drawn)


def test_points_carry_their_runs_verdict_and_broken_budgets(storage: Path) -> None:
    runs = load_runs([storage])
    html = render_dashboard(runs)
    verdicts = re.findall(r'<tr data-run="(\d)">.*?<span class="chip (\w+)">', html)
    assert verdicts == [("0", "passed"), ("1", "passed"), ("2", "passed"), ("3", "failed"), ("4", "passed"), ("5", "passed")]
    student = html.split('class="trends"')[1].split('data-variant="student"')[1].split("</tr>")[0]
    accuracy = student.split("</td>")[0]
    assert re.findall(r'<circle class="pt (\w+)( broken)?" data-run="(\d)"', accuracy) == [
        ("passed", "", "0"), ("passed", "", "1"), ("passed", "", "2"), ("failed", " broken", "3"), ("passed", " broken", "4"),
        ("passed", " broken", "5"),
    ]
    assert "budgets broken: speedup 1.25 &lt; 1.5 (speedup_min)" in accuracy
    frontier = html.split('class="trends"')[1].split('data-variant="frontier"')[1].split("</tr>")[0]
    assert re.findall(r'data-run="(\d)"', frontier.split("</td>")[0]) == ["4", "5"]


def test_change_points_are_drawn_where_the_finder_puts_them(storage: Path) -> None:
    seen: list[int] = []

    def finder(values):
        seen.append(len(values))
        return [3] if len(values) == 6 else [0, 99]  # out-of-range indices are ignored

    html = render_dashboard(load_runs([storage]), changes=finder)
    student = html.split('class="trends"')[1].split('data-variant="student"')[1].split("</tr>")[0]
    lines = re.findall(r'<line class="change" x1="([\d.]+)"[^>]*><title>([^<]*)</title>', student)
    assert len(lines) == 5  # one per figure drawn, at the student's level change
    assert {title for _, title in lines} == {"change point: a new level from run 0004_run4 on"}
    assert "dashed line: change point" in html and html.count('class="change"') == 3 * 5  # not the frontier's
    assert sorted(set(seen)) == [2, 6]  # the frontier's series has two points
    assert "change points: not computed" in render_dashboard(load_runs([storage]), changes=None)


def test_the_gates_change_points_are_drawn_by_default(tmp_path: Path) -> None:
    html = render_dashboard(load_runs([history(tmp_path / ".benchmarks", 10, slow_from=6, joins_at=8)]))
    trends = html.split('class="trends"')[1].split("</table>")[0]
    changes = {
        variant: [cell.count('class="change"') for cell in row.split("</tr>")[0].split("</td>")[:-1]]
        for variant, row in re.findall(r'data-variant="([^"]*)"(.*?)</tr>', trends)
    }
    # accuracy, in-scope, OOS recall, speed-up, size: only the student's speed-up stepped.
    assert changes == {"baseline": [0] * 5, "student": [0, 0, 0, 1, 0], "distilled": [0] * 5, "frontier": [0] * 5}
    assert "change point: a new level from run 0006_run6 on" in trends


def test_pareto_front_and_newest_table(tmp_path: Path) -> None:
    variants = {"baseline": (6.0, 0.90, 63.4), "fast": (2.0, 0.85, 15.9), "slow-worse": (12.0, 0.80, 63.4)}
    run = load_runs([write_run(tmp_path / "run.json", make_run(1, variants=variants, violations={"fast": ["size"]}))])
    html = render_dashboard(run)
    bubbles = re.findall(r'<g class="bubble( front)?" data-variant="([^"]*)">', html)
    assert sorted(bubbles, key=lambda b: b[1]) == [(" front", "baseline"), (" front", "fast"), ("", "slow-worse")]
    assert "On the front: <b>baseline, fast</b>." in html
    table = html.split('class="figures"')[1].split("</table>")[0]
    assert re.findall(r"<th>([^<]*)</th>", table) == [*TABLE_COLUMNS, "Pareto front", "budgets broken"]
    fast = re.findall(r"<td>([^<]*)</td>", table.split('data-variant="fast"')[1].split("</tr>")[0])
    assert len(fast) == len(TABLE_COLUMNS) + 2
    assert fast[:6] == ["fast", "0.8500", "n/a", "0.8600", "0.5000", "15.9"] and fast[-2:] == ["yes", "size"]


def test_text_from_runs_is_escaped(tmp_path: Path) -> None:
    variants = {"baseline": (6.0, 0.9, 63.4), HOSTILE: (3.0, 0.85, 15.9)}
    path = write_run(tmp_path / "<img src=x onerror=alert(1)>" / "run.json", make_run(1, variants=variants))
    html = render_dashboard(load_runs([path]))
    assert HOSTILE not in html and "<img src=x" not in html and "alert(1)>" not in html
    assert html.count("<script>") == 1  # the page's own
    assert html.count("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&lt;b&gt;") >= 4  # table, chart row, bubble, filter attribute
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_the_page_loads_nothing_from_outside(storage: Path) -> None:
    html = render_dashboard(load_runs([storage]))
    assert not re.search(r"""(src|href)\s*=|url\(|@import|https?:""", html.replace('xmlns="http://www.w3.org/2000/svg"', ""))
    assert "default-src 'none'" in html  # and the browser refuses anything it would try


def test_cli_writes_the_dashboard_and_needs_an_output(tmp_path: Path, storage: Path, capsys) -> None:
    out = tmp_path / "site"
    assert main(["report", str(storage), "--html", str(out)]) == 0
    assert capsys.readouterr().out.split() == [str(out / PAGE_NAME)]
    assert (out / PAGE_NAME).read_text(encoding="utf8").startswith("<!DOCTYPE html>")
    assert [p.name for p in out.iterdir()] == [PAGE_NAME]
    assert main(["report", str(storage)]) == 2
    assert "give --out DIR (Markdown and PNG), --html DIR (dashboard), or both" in capsys.readouterr().err
    assert main(["report", str(tmp_path / "empty.json"), "--html", str(out)]) == 2


@pytest.fixture(scope="module")
def browser():
    """A headless Debian Chromium driven by Playwright, with a new empty profile and no background traffic."""
    if CHROMIUM is None:
        pytest.skip("no Chromium installed (apt-get install chromium); the dashboard's browser test needs one")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright, tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS, viewport={"width": 1360, "height": 900}
        )
        try:
            yield context
        finally:
            context.close()


def _open(context, page_path: Path):
    """The page opened from the file system, with what it logged, threw, requested and tried to pop up."""
    page = context.new_page()
    seen: dict[str, list[str]] = {"console": [], "errors": [], "requests": [], "dialogs": []}
    page.on("console", lambda message: seen["console"].append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: seen["errors"].append(str(error)))
    page.on("request", lambda request: seen["requests"].append(request.url))
    page.on("dialog", lambda dialog: (seen["dialogs"].append(dialog.message), dialog.dismiss()))
    page.goto(page_path.resolve().as_uri(), wait_until="load")
    return page, seen


def test_dashboard_in_a_headless_browser(tmp_path: Path, browser) -> None:
    page_path = write_dashboard(load_runs([history(tmp_path / ".benchmarks", 10, slow_from=6, joins_at=8)]), tmp_path / "site")
    page, seen = _open(browser, page_path)
    text = page.inner_text("body")
    for variant in (*VARIANTS, "frontier"):
        assert page.locator(f'table.trends tr[data-variant="{variant}"]').is_visible()
        assert variant in text
    shots = Path(os.environ.get(SCREENSHOT_DIR) or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=shots / "dashboard.png", clip={"x": 0, "y": 0, "width": 1360, "height": 930}, full_page=True)
    assert (shots / "dashboard.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    page.fill("#filter", "stud")
    assert page.locator('table.trends tr[data-variant="student"]').is_visible()
    assert not page.locator('table.trends tr[data-variant="baseline"]').is_visible()
    page.fill("#filter", "")
    assert page.locator("line.change").count() == 1
    page.hover('table.runs tr[data-run="5"]')
    assert page.locator('circle.pt.hl[data-run="5"]').count() == 3 * 5  # run 6 holds three variants, five figures each
    assert seen == {"console": [], "errors": [], "requests": [page_path.resolve().as_uri()], "dialogs": []}
    page.close()


def test_hostile_names_show_as_text_in_the_browser(tmp_path: Path, browser) -> None:
    variants = {"baseline": (6.0, 0.9, 63.4), HOSTILE: (3.0, 0.85, 15.9)}
    page_path = write_dashboard(load_runs([write_run(tmp_path / "run.json", make_run(1, variants=variants))]), tmp_path / "site")
    page, seen = _open(browser, page_path)
    assert HOSTILE in page.inner_text("table.figures")
    assert page.locator("script").count() == 1 and page.locator("body b").count() == 2  # the header's and the front's own
    assert seen["console"] == [] and seen["errors"] == [] and seen["dialogs"] == []
    page.close()
