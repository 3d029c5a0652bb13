"""`inspect`: what a family's configuration costs before training, and what an int8 .tflite holds."""

import inspect as pyinspect
from pathlib import Path

from tinyml_kit.check.tflm import measure_arena
from tinyml_kit.core.arena import arena_with_headroom
from tinyml_kit.core.errors import UserError, param
from tinyml_kit.core.family import lookup
from tinyml_kit.core.spec import STYLE_DEFAULTS
from tinyml_kit.core.tflite_info import read_model_file, require_int8
from tinyml_kit.core.tflm_flatbuffer import tflm_flash_bytes
from tinyml_kit.nets import BUILDERS, build, require_knob
from tinyml_kit.nets.costs import model_costs


def inspect_arch(arch: str, input_shape: tuple[int, int, int], classes: int, board_id: str | None = None,
                 **knobs) -> dict:
    """Parameters, MACs (with a per-kind breakdown) and the TFLite ops of a freshly built model; for the families
    with conversion-free estimates, flash and arena, and on `board_id` the latency. Those estimates come first: a
    configuration larger than any board is refused before it is built (`require_buildable`)."""
    from tinyml_kit.core.boards import get_board
    from tinyml_kit.solve.families import has_estimator, require_buildable

    styled = [k for k, default in STYLE_DEFAULTS.items() if knobs.get(k) not in (None, default)]
    estimated = has_estimator(arch) and not styled
    for knob in styled:   # a PhiNet knob on another family is refused as such, not for lacking estimates
        require_knob(arch, knob)
    board = get_board(board_id) if board_id else None   # bad input is refused before any building
    if board is not None and not estimated:
        what = f"{arch} with {' '.join(map(param, styled))}" if styled else arch
        raise UserError(f"{what} has no conversion-free estimates to time on a board: fit it or convert it and "
                        f"run `tinyml-kit analyze MODEL.tflite {param('board_id', board.id)}`", "board_id")
    for knob in (k for k, v in knobs.items() if v is not None):
        require_knob(arch, knob)
    estimate = _estimate(arch, input_shape, classes, board, **knobs) if has_estimator(arch) else None
    if estimate is not None:   # a styled PhiNet's squeeze-excite twin is as large, give or take its attention
        require_buildable(estimate, *(k for k, v in knobs.items() if v is not None))
    model = build(arch, input_shape, classes, **knobs)
    costs = model_costs(model)
    result = {"arch": arch, "name": model.name, "input_shape": list(input_shape), "classes": classes,
              **costs.to_dict()}
    if estimated:
        result.update(_estimates(estimate, board))
    return result


def _estimate(arch: str, input_shape, classes: int, board=None, **knobs):
    """The conversion-free estimate of `arch` with `knobs`, the builder's defaults where unset (a family that is
    one point of another, e.g. ResNet-8, as that point)."""
    from tinyml_kit.solve.families import estimator

    f = lookup(arch)
    defaults = {k: p.default for k, p in pyinspect.signature(BUILDERS[arch]).parameters.items()}
    values = {**{k: defaults[f.knobs[k]] if knobs.get(k) is None else knobs[k] for k in f.knobs}, **f.alias_knobs}
    ranked = estimator(arch)
    plan = {k: knobs[k] for k in ranked.family.plan if knobs.get(k) is not None}   # the rest: the builder's defaults
    return ranked.estimate(ranked.family.configuration(values), input_shape, classes, board=board, structure=plan)


def _estimates(e, board=None) -> dict:
    """Conversion-free TFLM flash (the compact flatbuffer) and arena (see `solve.estimate`)."""
    out = {"flash_bytes_est": e.flash_bytes_est, "arena_bytes_est": e.arena_bytes_est,
           "arena_alloc_bytes_est": arena_with_headroom(e.arena_bytes_est)}
    if board is not None:
        out.update(board=board.id, instructions_est=e.latency.instructions, cycles_est=e.latency.cycles,
                   latency_ms_est=round(e.latency.ms, 2), latency_basis=e.latency.basis)
    return out


def inspect_tflite(path: str | Path) -> dict:
    """File size, TFLM-measured arena, ops and I/O of an int8 .tflite."""
    data, info = read_model_file(path)
    require_int8(info, str(path))
    arena = measure_arena(data)
    return {"model": str(path), "flash_bytes": tflm_flash_bytes(data), "tflite_bytes": info.size_bytes,
            "arena_bytes": arena.total_bytes,
            "arena_alloc_bytes": arena.alloc_bytes, "ops": info.ops, "op_count": info.op_count,
            "inputs": [vars(t) for t in info.inputs], "outputs": [vars(t) for t in info.outputs]}
