"""When a run does not fit its board: by how much on each budget, where its flash and arena go (`analyze`'s per-op
plan), and the `compress` settings that would make it fit.

The settings are not guessed from a scaling factor: the run's float model is pruned as `compress --prune structured`
prunes it (`compress.prune_channels`, which channels go depends on the criterion, how many does not), converted
to int8 as `compress` converts it (through the QAT model when QAT is suggested) and measured as every run is
measured (`pipeline.measure.measure_model`: the engine's flash and arena, the cycles predicted from the graph).
Fine-tuning changes the weights, not the shapes, so these are the figures the compressed run will measure. The
least channel fraction that fits is found by bisection over a 5 % grid (converting post-training, then once
through the QAT model where QAT is suggested), after checking that the most it tries fits at all; when even that
misses, the advice says which budgets still miss instead of suggesting anything."""

import logging
from pathlib import Path

import numpy as np

from tinyml_kit.check.analysis import LayerRow
from tinyml_kit.check.analyze import analyze_model
from tinyml_kit.compress.prune_channels import prune_channels
from tinyml_kit.core.errors import UserError
from tinyml_kit.core.fit_advice import BudgetMiss, CompressSuggestion, FitAdvice, LayerCost, PrunedFigures
from tinyml_kit.core.run_record import RunRecord

logger = logging.getLogger(__name__)

SPARSITIES = tuple(round(0.05 * i, 2) for i in range(1, 19))   # 5 % .. 90 % of the channels removed
TOP_FLASH_OPS = 3
# QAT is suggested beside pruning when post-training quantization lost more than this much accuracy.
QAT_WHEN_PTQ_LOSES = 0.01
MEASURE_IMAGES = 16   # calibration images for the measuring conversions: ranges do not change sizes


def add_advice(record: RunRecord, model, flatbuffer: bytes, calibration: np.ndarray, run_dir: str | Path) -> None:
    """`advise`, into the record (its time under `advice_s`): how `fit`, `compress` and `deploy` end."""
    from tinyml_kit.pipeline.runs import timed

    with timed(record.timings, "advice_s"):
        record.advice = advise(record, model, flatbuffer, calibration, run_dir)


def advise(record: RunRecord, model, flatbuffer: bytes, calibration: np.ndarray, run_dir: str | Path
           ) -> FitAdvice | None:
    """The advice for a run that misses a budget (None when it fits). `model`: the float Keras model the int8
    `flatbuffer` was converted from (None: an int8 .tflite deployed as it is, which `compress` cannot start from);
    `run_dir`: the run directory the suggested `compress` runs on."""
    if record.verdict.ok:
        return None
    analysis = analyze_model(flatbuffer)
    top = sorted(analysis.layers, key=lambda r: -r.weight_bytes)[:TOP_FLASH_OPS]
    advice = FitAdvice(budget_misses(record), [_cost(r) for r in top], _cost(analysis.peak))
    if model is None:
        advice.reason = ("compress starts from a float Keras model, which this run does not have (it was deployed "
                         "from a .tflite): deploy the model it was converted from to prune it")
        return advice
    quant = "qat" if _ptq_loses(record) and _quantizable(model) else "ptq"
    try:
        found = least_pruning(model, record, calibration[:MEASURE_IMAGES])
    except UserError as e:   # e.g. a layer used twice, which structured pruning refuses
        found = f"no compress option is measured: {e}"
    if isinstance(found, str):
        advice.reason = found
        return advice
    if quant == "qat" and found.fits:
        found = with_qat(model, found.sparsity, record, calibration[:MEASURE_IMAGES])
    advice.pruned = found
    if found.fits:
        advice.compress = CompressSuggestion(str(run_dir), "structured", found.sparsity, quant)
    else:
        advice.reason = (f"no compress option makes it fit: with {found.sparsity:.0%} of its channels removed it "
                         f"still misses {'; '.join(found.misses)}")
    return advice


def budget_misses(record: RunRecord) -> list[BudgetMiss]:
    """Every budget the run is judged by, with how far over (or under) it is; time also in ms."""
    verdict, budget = record.verdict, record.budget
    return [BudgetMiss.of(name, check, *((record.latency_ms_est, budget.latency_ms)
                                         if name == "latency" and budget.instructions is None else ()))
            for name, check in verdict.checks.items()]


def least_pruning(model, record: RunRecord, calibration: np.ndarray) -> PrunedFigures | str:
    """The least channel fraction of `SPARSITIES` whose pruned model fits the run's budget, measured; the most
    of them when none does; a reason when structured pruning finds nothing to remove."""
    most = pruned_figures(model, SPARSITIES[-1], record, calibration)
    if most is None:
        return ("no compress option makes it fit: structured pruning finds no channels it may remove (every "
                "convolution and dense layer feeds the output or a layer it does not follow)")
    if not most.fits:
        return most
    low, high, best = 0, len(SPARSITIES) - 1, most
    while low < high:
        mid = (low + high) // 2
        figures = pruned_figures(model, SPARSITIES[mid], record, calibration)
        assert figures is not None   # the same groups as at the most
        if figures.fits:
            high, best = mid, figures
        else:
            low = mid + 1
    return best


def with_qat(model, sparsity: float, record: RunRecord, calibration: np.ndarray) -> PrunedFigures:
    """The figures through the QAT model, from `sparsity` (where the post-training one fits) up to the first that
    fits: its conversion differs from post-training quantization's by a few bytes (-45 B of 42.9 KB on a CIFAR
    CNN) and takes three times as long, so it is measured where the search ended, not in it."""
    figures = None
    for s in SPARSITIES[SPARSITIES.index(sparsity):]:
        figures = pruned_figures(model, s, record, calibration, "qat")
        if figures is not None and figures.fits:
            break
    assert figures is not None
    return figures


def pruned_figures(model, sparsity: float, record: RunRecord, calibration: np.ndarray, quant: str = "ptq"
                   ) -> PrunedFigures | None:
    """`model` with `sparsity` of its channels removed, converted and measured against the run's budget (None:
    nothing to remove)."""
    from tinyml_kit.compress.qat import quantize_aware
    from tinyml_kit.pipeline.measure import measure_model
    from tinyml_kit.pipeline.pinned import verdict_misses

    result = prune_channels(model, sparsity)
    if not result.channels_before:
        return None
    converted = quantize_aware(result.model) if quant == "qat" else None
    m = measure_model(result.model, record.arch, {}, calibration, record.budget, record.engine, record.board,
                      converted=converted)
    verdict = record.budget.verdict(m.flash_bytes, m.arena_alloc_bytes, m.macs, m.cycles)
    logger.debug(f"pruned {sparsity:.0%}: flash {m.flash_bytes:,} B, arena {m.arena_alloc_bytes:,} B, "
                 f"{m.macs:,} MACs, {m.cycles} cycles, fits {verdict.ok}")
    return PrunedFigures(sparsity, m.flash_bytes, m.arena_alloc_bytes, m.macs, m.cycles, verdict.ok,
                         verdict_misses(verdict, record.budget))


def log_advice(advice: FitAdvice | None) -> None:
    for line in advice.lines() if advice is not None else ():
        logger.info(line)


def _cost(row: LayerRow) -> LayerCost:
    return LayerCost(row.index, row.op, row.name.split(";")[0], row.weight_bytes, row.live_bytes)


def _ptq_loses(record: RunRecord) -> bool:
    return (record.float_accuracy is not None and record.int8_accuracy is not None
            and record.float_accuracy - record.int8_accuracy > QAT_WHEN_PTQ_LOSES)


def _quantizable(model) -> bool:
    from tinyml_kit.compress.qat import require_quantizable

    try:
        require_quantizable(model)
    except UserError:
        return False
    return True
