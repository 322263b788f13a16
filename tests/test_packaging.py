"""Installed without -e, the package carries what the commands read: the budgets and the vendored CLINC150."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent


def test_the_wheel_ships_the_budgets_the_data_and_every_subpackage(tmp_path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(tmp_path), str(REPOSITORY)],
        check=True, capture_output=True, cwd=tmp_path,
    )
    (wheel,) = tmp_path.glob("compressors-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {
        "compressors/budgets.toml",
        "compressors/fixtures/clinc150/data_oos_plus.json.gz",
        "compressors/fixtures/clinc150/labels.json",
        "compressors/fixtures/clinc150/LICENSE",
    } <= names
    packages = {p.parent.relative_to(REPOSITORY).as_posix() for p in (REPOSITORY / "compressors").rglob("__init__.py")}
    assert all(f"{package}/__init__.py" in names for package in packages)
    assert not any(name.startswith(("tests/", "benchmarks/")) for name in names)
