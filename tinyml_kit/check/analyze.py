"""Where the flash and the RAM of an int8 .tflite go, layer by layer, and whether it fits a board.

The totals are measurements: flash is the compact flatbuffer's size (what TFLM firmware links; the file's own
size is `tflite_bytes`), the arena is what TFLM allocates (`print_allocations`).
The per-layer view is TFLM's own memory plan replayed on the file (`tflm_arena.memory_plan`): each tensor's
lifetime and offset, what is live while each op runs, and the op at which the arena's high-water mark is set.
The replay is checked against the measurement (`plan_matches_tflm`); on a kernel whose scratch buffers the
replay does not know, the two differ and the report says so instead of hiding it.
"""

from tinyml_kit.check.analysis import Analysis, BoardFit, Latency, LayerRow, MeasuredInstructions, PlanTensor
from tinyml_kit.check.tflm import TflmModel
from tinyml_kit.core.arena import arena_with_headroom
from tinyml_kit.core.cores import CORES
from tinyml_kit.core.graph import Graph
from tinyml_kit.core.latency import latency_ms_from_cycles
from tinyml_kit.core.tflite_info import read_graph, read_model, require_int8
from tinyml_kit.core.tflm_flatbuffer import tflm_flash_bytes
from tinyml_kit.core.verdict import fits
from tinyml_kit.core.verification import VerifyResult
from tinyml_kit.solve.costs import conv_macs, depthwise_macs
from tinyml_kit.solve.engines import get_engine
from tinyml_kit.solve.latency_estimate import estimate_latency, predict_per_op
from tinyml_kit.solve.tflm_arena import PlannedBuffer, memory_plan

# MACs are counted as `inspect --arch` counts them: convolutions, depthwise, fully connected and multiplies
_MAC_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "MUL"}


def op_macs(graph: Graph, op) -> int:
    """MACs of one op, with `solve.costs`'s formulas (the ones `inspect --arch` counts with)."""
    out = graph.tensors[op.outputs[0]]
    if op.kind == "MUL":
        return out.elements
    if op.kind not in _MAC_OPS or len(op.inputs) < 2:
        return 0
    w = graph.tensors[op.inputs[1]].shape
    if op.kind == "DEPTHWISE_CONV_2D":            # weights (1, kh, kw, channels)
        return depthwise_macs(1, out.elements // w[3], w[1], w[3], w[2])
    c_in = 1
    for d in w[1:]:
        c_in *= d                                 # CONV_2D: (c_out, kh, kw, c_in); FULLY_CONNECTED: (units, in)
    return conv_macs(1, out.elements // w[0], 1, c_in, w[0])


def layer_rows(graph: Graph, plan: list[PlannedBuffer]) -> list[LayerRow]:
    """One row per op, read off TFLM's memory plan of `graph`."""
    by_tensor = {b.tensor: b for b in plan if b.tensor is not None}
    stored = {t.name: t.data_bytes for t in graph.tensors if t.data_bytes}
    counted: set[str] = set()
    rows = []
    for i, op in enumerate(graph.ops):
        scope = i + 1
        live = [b for b in plan if b.live_at(scope)]
        params = weight_bytes = 0
        for t in op.inputs:
            tensor = graph.tensors[t]
            if tensor.is_constant and tensor.quant_channels:      # shape constants carry no quantization
                params += tensor.elements
            owner = tensor.shares_buffer_of or tensor.name
            if tensor.is_constant and owner not in counted:
                counted.add(owner)
                weight_bytes += stored.get(owner, 0)
        out = op.outputs[0]
        b = by_tensor.get(out)
        rows.append(LayerRow(
            index=i, op=op.kind, name=graph.tensors[out].name, output_shape=list(graph.tensors[out].shape),
            params=params, macs=op_macs(graph, op), weight_bytes=weight_bytes,
            activation_bytes=b.size if b else 0, output_first_op=b.first - 1 if b else i,
            output_last_op=b.last - 1 if b else i, output_offset=b.offset if b else 0,
            scratch_bytes=sum(x.size for x in plan if x.tensor is None and x.op == i),
            live_bytes=sum(x.size for x in live), high_water_bytes=max((x.offset + x.size for x in live), default=0)))
    return rows


def analyze_model(data: bytes, name: str = "model.tflite", board_id: str | None = None, engine: str = "tflm"
                  ) -> Analysis:
    """Per-layer table, measured totals, the RAM peak, predicted instructions and, with a board, the latency
    estimate and the fit verdict."""
    info = read_model(data, name)
    require_int8(info, name)
    board = None
    if board_id is not None:
        from tinyml_kit.core.boards import get_board

        board = get_board(board_id)
    graph = read_graph(data, name)
    arena = TflmModel(data).arena()
    plan = memory_plan(graph)
    rows = layer_rows(graph, plan)
    plan_head = max((b.offset + b.size for b in plan), default=0)
    peak = max(rows, key=lambda r: (r.live_bytes, r.high_water_bytes))
    plan.sort(key=lambda b: (b.offset, b.first))
    tensors = [PlanTensor(graph.tensors[b.tensor].name if b.tensor is not None else f"scratch of op {b.op}",
                          b.size, b.offset, b.first - 1, b.last - 1) for b in plan]
    weights = sum(t.data_bytes for t in graph.tensors)
    flash = tflm_flash_bytes(data)
    inp, out = graph.tensors[graph.input], graph.tensors[graph.output]
    return Analysis(
        model=name, flash_bytes=flash, tflite_bytes=len(data), weights_bytes=weights, structure_bytes=flash - weights,
        params=sum(r.params for r in rows), macs=sum(r.macs for r in rows), ops=info.ops, op_count=len(graph.ops),
        arena_bytes=arena.total_bytes, arena_alloc_bytes=arena.alloc_bytes, arena_head_bytes=arena.head_bytes,
        arena_tail_bytes=arena.tail_bytes, plan_head_bytes=plan_head, plan_matches_tflm=plan_head == arena.head_bytes,
        input_bytes=inp.nbytes, output_bytes=out.nbytes, peak_layer=peak.index, peak_op=peak.op, peak_name=peak.name,
        peak_tensors=[t for t, b in zip(tensors, plan, strict=False) if b.live_at(peak.index + 1)], layers=rows,
        tensors=tensors, latency=latency_analysis(graph, rows, board, engine),   # fills each row's instructions_est
        board_fit=board_fit(board, flash, arena.total_bytes) if board is not None else None)


def latency_analysis(graph: Graph, rows: list[LayerRow], board, engine: str) -> Latency:
    """Instructions per op (into `rows`) and in all, predicted for `engine` on the board's core (the Cortex-M4F
    without a board), and with a board its cycles per op and the latency estimate on it."""
    latency = None
    if board is not None:
        latency = estimate_latency(graph, sum(r.macs for r in rows), board, engine)
        core, per_op = board.core, latency.per_op or None
    else:
        core = CORES["m4"].title
        per_op = predict_per_op(graph, core, engine)
    result = Latency(core if per_op else None, sum(per_op) if per_op else None)
    for row, n in zip(rows, per_op or (), strict=False):
        row.instructions_est = n
    if latency is not None:
        for row, cycles in zip(rows, latency.per_op_cycles, strict=False):
            row.cycles_est, row.latency_ms_est = cycles, round(latency_ms_from_cycles(cycles, board.clock_mhz), 4)
        result.latency_ms_est, result.latency_basis = round(latency.ms, 2), latency.basis
        result.cycles_est = latency.cycles
    return result


def attach_profile(result: Analysis, profiles: list[VerifyResult], engine: str) -> None:
    """Measured instructions per op beside the predicted ones, from the `verify --profile` result of `engine` on
    the core the prediction is for (CMSIS-NN kernels first: the ones the prediction models)."""
    same = [p for p in profiles if p.core_title == result.latency.instructions_core and p.profiled
            and p.engine == engine]
    same.sort(key=lambda p: p.kernels != "cmsis_nn")
    if not same:
        return
    p = same[0]
    measured = {op.index: op.instructions for op in p.profile.ops} if p.profile is not None else {}
    for row in result.layers:
        row.instructions_measured = measured.get(row.index)
    firmware = get_engine(p.engine).words.firmware.format(kernels=p.kernels)
    result.measured = MeasuredInstructions(p.instructions_per_inference, f"{p.core_title}, {firmware}")


def board_fit(board, flash_bytes: int, arena_bytes: int, headroom: bool = True) -> BoardFit:
    """Flash and RAM verdicts against what the board leaves for a model once the runtime, the HAL, the
    application, the stack and the heap are reserved; TFLM's arena is compared with headroom, as `fit` does,
    the C engine's static plan as it is (`headroom=False`)."""
    verdict = fits(flash=(flash_bytes, board.flash_budget_bytes),
                   ram=(arena_with_headroom(arena_bytes) if headroom else arena_bytes, board.arena_budget_bytes))
    flash, ram = verdict["flash"], verdict["ram"]
    return BoardFit(
        board=board.id, flash_linked_bytes=board.flash_linked_bytes, flash_reserve_bytes=board.flash_reserve_bytes,
        flash_budget_bytes=board.flash_budget_bytes, ram_linked_bytes=board.ram_linked_bytes,
        ram_reserve_bytes=board.ram_reserve_bytes, arena_budget_bytes=board.arena_budget_bytes, fits_flash=flash.ok,
        fits_ram=ram.ok, fits=verdict.ok, flash_margin_bytes=flash.margin, flash_margin_percent=flash.margin_percent,
        ram_margin_bytes=ram.margin, ram_margin_percent=ram.margin_percent)
