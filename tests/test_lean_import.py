"""`import compressors` stays light: heavy optional libraries load only where used."""

from __future__ import annotations

import subprocess
import sys


def test_import_does_not_pull_heavy_libraries() -> None:
    code = (
        "import sys, compressors, compressors.variants, compressors.suite, compressors.pytest_plugin, compressors.measure.budgets;"
        "heavy = [m for m in ('onnxruntime', 'optuna', 'matplotlib', 'onnx') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""
