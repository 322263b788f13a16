"""Serve: load an artifact as a server would hold it; torch artifacts with the faster attention kernel, by timing."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from compressors.artifacts import Artifact
from compressors.formats.predictors import TORCH_SERVED_KINDS, Predictor, load_predictor
from compressors.measure.harness import HarnessConfig
from compressors.measure.injected import RepeatedWork
from compressors.measure.paired import PairedConfig, measure_paired, paired_speedup

logger = logging.getLogger(__name__)

Loader = Callable[..., Predictor]


@dataclass(frozen=True)
class ServingChoice:
    """How an artifact is served: "torch sdpa", "torch eager" or "onnxruntime", and the timing behind the choice."""

    runtime: str
    eager_speedup_over_sdpa: float = math.nan

    def meta(self) -> dict[str, float]:
        """What the run records of the choice besides the runtime."""
        return {} if math.isnan(self.eager_speedup_over_sdpa) else {"eager_speedup_over_sdpa": self.eager_speedup_over_sdpa}


@dataclass(frozen=True)
class Served:
    """A loaded predictor with the artifact it serves and how.

    Attributes:
        injected: the test-only injected regression's factor (`RepeatedWork`); 1 is none.
    """

    artifact: Artifact
    predictor: Predictor
    choice: ServingChoice
    injected: float = 1.0


def serve(artifact: Artifact, harness: HarnessConfig, queries: Sequence[str], clock: Callable[[], float] = time.perf_counter,
          load: Loader = load_predictor) -> Served:
    """Load `artifact` with the harness's threads, max length and spinning; for torch kinds, both
    attention kernels timed in paired blocks on `queries`, the faster kept.

    sdpa is what a user gets by default; eager serves only when it is faster beyond the noise
    (the whole confidence interval of its speed-up above 1).
    """
    options = dict(threads=harness.threads, max_length=harness.max_length, ort_spinning=harness.ort_spinning)
    if artifact.kind not in TORCH_SERVED_KINDS:
        return Served(artifact, load(artifact, **options), ServingChoice("onnxruntime"))
    sdpa = load(artifact, attention="sdpa", **options)
    eager = load(artifact, attention="eager", **options)
    config = PairedConfig(pairs=harness.attention_pairs, block_calls=harness.paired.block_calls,
                          warm_calls=harness.paired.warm_calls)
    eager_vs_sdpa = paired_speedup(measure_paired(sdpa, eager, queries, config, clock))
    chosen = "eager" if eager_vs_sdpa.low > 1 else "sdpa"
    logger.info("%s: eager attention runs %.2fx as fast as sdpa [%.2f, %.2f]; serving with %s", artifact.key,
                eager_vs_sdpa.estimate, eager_vs_sdpa.low, eager_vs_sdpa.high, chosen)
    return Served(artifact, eager if chosen == "eager" else sdpa, ServingChoice(f"torch {chosen}", eager_vs_sdpa.estimate))


def inject(served: Served, factor: float) -> Served:
    """Test-only: the same served model doing `factor` times the inference work (`RepeatedWork`)."""
    if factor == 1.0:
        return served
    return replace(served, predictor=RepeatedWork(served.predictor, factor), injected=factor)
