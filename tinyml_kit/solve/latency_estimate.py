"""Time per inference predicted from a graph: the fitted per-op costs (`solve.instructions`) of each op as the C
engine's build runs it, its generated kernel or CMSIS-NN's as the code generator's per-layer choice has it
(`solve.kernel_choice`, which prices CMSIS-NN's layers with those same costs: hence a module of its own)."""

from dataclasses import dataclass

from tinyml_kit.core.boards import Board
from tinyml_kit.core.cores import KernelFamily, emulated_core
from tinyml_kit.core.graph import Graph
from tinyml_kit.core.latency import latency_ms, latency_ms_from_cycles
from tinyml_kit.core.timing import memory_timing
from tinyml_kit.solve.c_size import model_kernels
from tinyml_kit.solve.instructions import QUANTITIES, OpCostModel, instruction_model


def op_families(model: OpCostModel, graph: Graph) -> list[KernelFamily | None]:
    """Per op, the family whose generated kernel it runs under `model`'s engine and core, or None where it calls
    CMSIS-NN: the code generator's per-layer choice (`c_size.model_kernels`) decides."""
    family = model.family
    if family is None or not family.generates_kernels:
        return [family] * len(graph.ops)
    kernels = model_kernels(graph, family)
    return [None if i in kernels and not kernels[i].generated else family for i in range(len(graph.ops))]


@dataclass(frozen=True)
class LatencyEstimate:
    """Time per inference on a board. On an emulated core: predicted instructions and cycles per op, the cycles
    the core's own (at zero wait states) plus the board's flash wait states on the data reads they predict, and
    `ms` those cycles at the board's clock; elsewhere `ms` from MACs alone."""
    ms: float
    instructions: int | None     # None: the board's core has no emulated stand-in, so MACs set the estimate
    per_op: tuple[int, ...] = ()
    cycles: int | None = None
    per_op_cycles: tuple[int, ...] = ()

    @property
    def basis(self) -> str:
        return "cycles" if self.cycles is not None else "macs"


def predict_per_op(graph: Graph, core: str, engine: str = "tflm") -> tuple[int, ...] | None:
    """Instructions of each op on a board's core (boards.yaml's name); None where no emulated core stands for it
    or it was never profiled."""
    emulated = emulated_core(core)
    model = instruction_model(engine, emulated.id) if emulated else None
    if model is None:
        return None
    counts = model.per_op_counts(graph, ("instructions",), op_families(model, graph))
    return tuple(int(round(x)) for x in counts["instructions"])


def estimate_latency(graph: Graph, macs: int, board: Board, engine: str = "tflm", fastest: bool = False
                     ) -> LatencyEstimate:
    """Time per inference on `board`: predicted cycles (with its flash wait states, `core.timing.memory_timing`)
    at its clock on the cores tinyml-kit emulates, the MAC-throughput estimate on the others. `fastest`: each op on
    whichever of its kernels (generated or CMSIS-NN's) the model costs less, a lower bound of the build's time that
    skips the per-layer choice (`solve.time_screen` screens with it)."""
    emulated = emulated_core(board.core)
    model = instruction_model(engine, emulated.id) if emulated else None
    if model is None or not model.has_cycles:
        return LatencyEstimate(latency_ms(macs, board.core, board.clock_mhz), None)
    memory = memory_timing(board)
    every: list[KernelFamily | None] = [model.family] * len(graph.ops)
    builds = [every if fastest else op_families(model, graph)]
    if fastest and model.family and model.family.generates_kernels:
        builds.append([None] * len(graph.ops))
    per_build = []
    for families in builds:
        counts = model.per_op_counts(graph, QUANTITIES, families)
        per_build.append([(int(round(c + memory.wait_cycles(m, n))), int(round(i))) for c, m, n, i in
                          zip(counts["cycles"], counts["flash_misses"], counts["flash_loads"], counts["instructions"],
                              strict=True)])
    cycles, per_op = zip(*(min(op) for op in zip(*per_build, strict=True)), strict=True) if graph.ops else ((), ())
    return LatencyEstimate(latency_ms_from_cycles(sum(cycles), board.clock_mhz), sum(per_op), tuple(per_op),
                           sum(cycles), tuple(cycles))
