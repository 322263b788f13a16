"""ONNX Runtime's transformer optimizer on an exported BERT graph, kept by a rule that ignores timing.

The fused graph (Attention, EmbedLayerNormalization, SkipLayerNormalization, BiasGelu) is kept
when the optimizer fused what it promises for a BERT graph (one Attention per layer and the
embeddings) and the fused graph's logits match the exported graph's on validation queries;
otherwise the exported graph is kept and the reason recorded. No timing taken at build time
decides what is built: a timing on a shared machine flips between builds (a 1.4% difference
once chose the exported graph on one machine and the fused one on another). Both graphs' build-
time p50s are recorded as information only.

A graph with pruned heads (`compressors.formats.structured`) is fused with the heads its layers
kept and their width; when layers kept different numbers of heads the optimizer cannot be told
one head count, so the exported graph is kept.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

from compressors.artifacts import Artifact, Built
from compressors.data import TEXT
from compressors.formats.checkpoints import load_tokenizer
from compressors.formats.onnx import (
    MODEL_FILE,
    ONNX_KIND,
    SESSION_FILE,
    OnnxModelError,
    OrtPredictor,
    copy_support_files,
    fusion_counts,
    make_session,
)
from compressors.formats.structured import fusion_attention
from compressors.steps.base import BuildContext, register_step

logger = logging.getLogger(__name__)

GRAPH_LEVELS = ("disable", "basic", "extended", "all")


@dataclass(frozen=True)
class OrtOptimize:
    """ONNX Runtime's transformer optimizer (`model_type="bert"`), and the session's graph level.

    Attributes:
        graph_level: the session's graph optimization level ("disable", "basic", "extended", "all").
        fuse: run the transformer optimizer (Attention, EmbedLayerNormalization, ... fusions).
        parity_samples: validation queries on which the fused graph must match the exported one.
        parity_tolerance: largest allowed max-abs logit difference between the two graphs.
        timing_rounds: batch-size-1 calls per graph timed at build time, recorded as information
            only (0 skips it).
    """

    graph_level: str = "all"
    fuse: bool = True
    parity_samples: int = 64
    parity_tolerance: float = 1e-3
    timing_rounds: int = 200

    STEP: ClassVar[str] = "ort-optimize"
    VERSION: ClassVar[str] = "2"

    def __post_init__(self) -> None:
        if self.graph_level not in GRAPH_LEVELS:
            raise ValueError(f"OrtOptimize.graph_level must be one of {GRAPH_LEVELS}, got {self.graph_level!r}")
        if self.parity_samples < 1 or not self.parity_tolerance > 0 or self.timing_rounds < 0:
            raise ValueError(f"OrtOptimize needs parity_samples >= 1, parity_tolerance > 0 and timing_rounds >= 0, got {self}")


def fuse_bert_graph(source_path: Path, out_path: Path, num_heads: int, hidden_size: int) -> dict[str, int]:
    """Run ONNX Runtime's transformer optimizer on a BERT graph; returns the fusion counts."""
    from onnxruntime.transformers import optimizer

    optimized = optimizer.optimize_model(
        str(source_path), model_type="bert", num_heads=num_heads, hidden_size=hidden_size, opt_level=0
    )
    optimized.save_model_to_file(str(out_path))
    return fusion_counts(out_path)


def missing_fusions(counts: dict[str, int], layers: int) -> list[str]:
    """What the optimizer promises for a BERT graph of `layers` layers and did not fuse."""
    missing = []
    if counts.get("Attention", 0) != layers:
        missing.append(f"Attention {counts.get('Attention', 0)} of {layers}")
    if counts.get("EmbedLayerNormalization", 0) != 1:
        missing.append(f"EmbedLayerNormalization {counts.get('EmbedLayerNormalization', 0)} of 1")
    return missing


def logit_difference(exported: Path, fused: Path, tokenizer, texts: Sequence[str], graph_level: str) -> tuple[float, bool]:
    """Max abs logit difference between two graphs on `texts`, and whether every argmax agrees."""
    outputs = [OrtPredictor(make_session(path, 1, graph_level), tokenizer).logits(texts) for path in (exported, fused)]
    return float(np.abs(outputs[0] - outputs[1]).max()), bool((outputs[0].argmax(-1) == outputs[1].argmax(-1)).all())


def _build_time_p50_ms(path: Path, tokenizer, queries: Sequence[str], rounds: int, graph_level: str) -> float:
    import time

    predictor = OrtPredictor(make_session(path, 1, graph_level), tokenizer)
    for query in queries[:20]:
        predictor(query)
    samples = []
    for i in range(rounds):
        start = time.perf_counter()
        predictor(queries[i % len(queries)])
        samples.append(time.perf_counter() - start)
    return float(np.median(samples) * 1e3)


@register_step(OrtOptimize, produces=ONNX_KIND, accepts=(ONNX_KIND,), code=("compressors.formats.onnx",))
def optimize_onnx(source: Artifact, config: OrtOptimize, context: BuildContext, out_dir: Path) -> Built:
    """The ort-optimize step: the fused graph when the fusion rule holds, else the exported one."""
    model_config = json.loads((source.path / "config.json").read_text())
    copy_support_files(source, out_dir)
    (out_dir / SESSION_FILE).write_text(json.dumps({"graph_level": config.graph_level}))
    meta: dict = {"graph_level": config.graph_level}
    if not config.fuse:
        shutil.copy2(source.path / MODEL_FILE, out_dir / MODEL_FILE)
        return Built(ONNX_KIND, meta | {"kept": "exported", "reason": "fuse=False"})
    attention = fusion_attention(model_config)
    if attention is None:
        shutil.copy2(source.path / MODEL_FILE, out_dir / MODEL_FILE)
        reason = "layers keep different numbers of attention heads; the Attention fusion takes one head count"
        logger.warning("ort-optimize: keeping the exported graph: %s", reason)
        return Built(ONNX_KIND, meta | {"kept": "exported", "reason": reason})
    counts = fuse_bert_graph(source.path / MODEL_FILE, out_dir / MODEL_FILE, *attention)
    meta |= {f"fused_{op}": n for op, n in counts.items()}
    tokenizer = load_tokenizer(str(source.path))
    texts = list(context.data["validation"][TEXT][: config.parity_samples])
    problems = missing_fusions(counts, model_config["num_hidden_layers"])
    try:
        difference, same_argmax = logit_difference(source.path / MODEL_FILE, out_dir / MODEL_FILE, tokenizer, texts, config.graph_level)
    except OnnxModelError as error:
        problems.append(f"ONNX Runtime cannot run the fused graph ({error})")
    else:
        meta |= {"fused_max_abs_diff": difference}
        if difference > config.parity_tolerance or not same_argmax:
            problems.append(
                f"logits differ by up to {difference:.2e} (tolerance {config.parity_tolerance:.0e}), same argmax: {same_argmax}"
            )
    if config.timing_rounds:
        queries = texts[:32]
        meta["exported_p50_ms"] = _build_time_p50_ms(source.path / MODEL_FILE, tokenizer, queries, config.timing_rounds, config.graph_level)
        if "fused_max_abs_diff" in meta:  # the fused graph runs
            meta["fused_p50_ms"] = _build_time_p50_ms(out_dir / MODEL_FILE, tokenizer, queries, config.timing_rounds, config.graph_level)
    if problems:
        logger.warning("ort-optimize: keeping the exported graph: %s", "; ".join(problems))
        shutil.copy2(source.path / MODEL_FILE, out_dir / MODEL_FILE)
        return Built(ONNX_KIND, meta | {"kept": "exported", "reason": "; ".join(problems)})
    return Built(ONNX_KIND, meta | {"kept": "fused"})
