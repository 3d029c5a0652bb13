"""Time per inference predicted from a graph: the fitted per-op costs (`solve.instructions`) of each op as the C
engine's build runs it, its generated kernel or CMSIS-NN's as the code generator's per-layer choice has it
(`solve.kernel_choice`, which prices CMSIS-NN's layers with those same costs: hence a module of its own), and a
generated convolution's weights in RAM or flash as the code generator places them (`solve.weight_placement`)."""

from dataclasses import dataclass

from tinyml_kit.core.boards import Board
from tinyml_kit.core.budget import model_ram_bytes
from tinyml_kit.core.cores import KernelFamily, emulated_core
from tinyml_kit.core.graph import Graph
from tinyml_kit.core.latency import latency_ms, latency_ms_from_cycles
from tinyml_kit.core.timing import memory_timing
from tinyml_kit.solve.c_size import model_kernels
from tinyml_kit.solve.instructions import QUANTITIES, OpCostModel, instruction_model, op_signature
from tinyml_kit.solve.weight_placement import graph_ram_weight_ops


def op_families(model: OpCostModel, graph: Graph) -> list[KernelFamily | None]:
    """Per op, the family whose generated kernel it runs under `model`'s engine and core, or None where it calls
    CMSIS-NN: the code generator's per-layer choice (`c_size.model_kernels`) decides."""
    return _build(model, graph, 0)[0]


def ram_weight_convs(model: OpCostModel, graph: Graph, ram_bytes: int) -> frozenset[int]:
    """The generated convolutions reading their weights from RAM in the build for a target of `ram_bytes` of model
    RAM (`core.budget.model_ram_bytes`; 0: none), as the code generator places them (`solve.weight_placement`)."""
    return _build(model, graph, ram_bytes)[1]


def _build(model: OpCostModel, graph: Graph, ram_bytes: int) -> tuple[list[KernelFamily | None], frozenset[int]]:
    """Per op the family of its generated kernel or None (CMSIS-NN's), and the convolutions with weights in RAM."""
    family = model.family
    if family is None or not family.generates_kernels:
        return [family] * len(graph.ops), frozenset()
    kernels = model_kernels(graph, family)
    families = [None if i in kernels and not kernels[i].generated else family for i in range(len(graph.ops))]
    return families, frozenset(graph_ram_weight_ops(graph, family, kernels, ram_bytes))


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


def estimate_latency(graph: Graph, macs: int, board: Board, engine: str = "tflm", fastest: bool = False,
                     ram_bytes: int | None = None) -> LatencyEstimate:
    """Time per inference on `board`: predicted cycles (with its flash wait states, `core.timing.memory_timing`)
    at its clock on the cores tinyml-kit emulates, the MAC-throughput estimate on the others. The generated
    convolutions the build copies into RAM (for `ram_bytes` of model RAM, default the board's
    `core.budget.model_ram_bytes`) are costed reading their weights there. `fastest`: each op on whichever of its
    kernels (generated with weights in flash or in RAM, or CMSIS-NN's) the model costs less, a lower bound of the
    build's time that skips the per-layer choice and the placement (`solve.time_screen` screens with it)."""
    emulated = emulated_core(board.core)
    model = instruction_model(engine, emulated.id) if emulated else None
    if model is None or not model.has_cycles:
        return LatencyEstimate(latency_ms(macs, board.core, board.clock_mhz), None)
    memory = memory_timing(board)
    if fastest:
        kernels = [_kernels(model.family, op.kind) for op in graph.ops]
    else:
        families, in_ram = _build(model, graph, model_ram_bytes(board) if ram_bytes is None else ram_bytes)
        kernels = [[(fam, i in in_ram)] for i, fam in enumerate(families)]
    cycles, per_op = [], []
    for op, options in zip(graph.ops, kernels, strict=True):
        signature = op_signature(graph, op)
        costs = [model.op_counts(graph, op, family, in_ram, QUANTITIES, signature) for family, in_ram in options]
        c, i = min((int(round(c + memory.wait_cycles(m, n))), int(round(i))) for i, c, m, n in costs)
        cycles.append(c)
        per_op.append(i)
    return LatencyEstimate(latency_ms_from_cycles(sum(cycles), board.clock_mhz), sum(per_op), tuple(per_op),
                           sum(cycles), tuple(cycles))


def _kernels(family: KernelFamily | None, kind: str) -> list[tuple[KernelFamily | None, bool]]:
    """The kernels an op of `kind` may run in a build for `family` (its family's or None for CMSIS-NN's, and
    whether its weights are in RAM): what `fastest` takes the cheaper of."""
    if family is None or not family.generates_kernels:
        return [(family, False)]
    return [(family, False), (None, False)] + ([(family, True)] if kind == "CONV_2D" else [])
