"""Flash, arena, MACs and latency of a PhiNet, ResNet or TinyNet configuration, from its scaling factors alone.

No TensorFlow and no conversion: the plan gives parameters and MACs, the converter-faithful graph gives the
.tflite size and the TFLM arena, or for the C engine its compiled size and static arena. `bench/estimator_accuracy.py`
measures these against real conversions.
"""

from dataclasses import asdict, dataclass, field

from tinyml_kit.core.boards import Board
from tinyml_kit.core.cores import kernel_family
from tinyml_kit.core.family import (
    PHINET,
    RESNET,
    TINYNET,
    Knobs,
    PhiNetKnobs,
    WidthDepth,
)
from tinyml_kit.core.graph import Graph
from tinyml_kit.core.spec import describe, phinet_blocks, phinet_name
from tinyml_kit.solve.costs import (
    PlanCosts,
    phinet_plan_costs,
    resnet_costs,
    tinynet_costs,
)
from tinyml_kit.solve.engines import DEFAULT, Engine, get_engine
from tinyml_kit.solve.latency_estimate import LatencyEstimate
from tinyml_kit.solve.phinet_graph import phinet_graph
from tinyml_kit.solve.resnet_graph import resnet_graph
from tinyml_kit.solve.tinynet_graph import tinynet_graph


@dataclass
class Estimate:
    config: Knobs            # the searched knobs (`core.family`): PhiNet's α, β, t0, N; ResNet's and TinyNet's
    # width and depth (residual blocks per stage; blocks)
    params: int
    macs: int
    flash_bytes_est: int     # TFLM: the compact flatbuffer the firmware links; C engine: the compiled model
    arena_bytes_est: int     # TFLM: what it reports using (planned activations + persistent data); C: the plan
    activations_bytes: int   # the planned part alone
    engine: Engine = DEFAULT
    family: str = PHINET.name
    latency: LatencyEstimate | None = None   # on the board's core, when the estimate was asked for one
    structure: dict = field(default_factory=dict)   # PhiNet plan knobs the user pinned (as built)

    @property
    def depth(self) -> int:
        return self.config.depth

    def knobs(self) -> dict:
        return {**self.config.as_dict(), **self.structure}

    def describe(self) -> str:
        return describe(self.family, self.knobs())

    def to_dict(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k not in ("latency", "config", "structure", "engine")}
        return {**self.knobs(), **d, "engine": self.engine.name,
                "instructions_est": self.latency.instructions if self.latency else None,
                "cycles_est": self.latency.cycles if self.latency else None}


def phinet_graph_and_costs(alpha: float, beta: float, t0: float, depth: int, input_shape: tuple[int, int, int],
                           classes: int, divisor: int = 1, squeeze_excite: bool = True, compatibility: bool = False,
                           first_conv_stride: int = 2, downsampling_layers: tuple[int, ...] = (5, 7),
                           conv5_percent: float = 0.0) -> tuple[Graph, PlanCosts]:
    if compatibility:
        squeeze_excite = False
    plan = phinet_blocks(alpha, beta, t0, depth, divisor, squeeze_excite, tuple(downsampling_layers), conv5_percent,
                         first_conv_stride=first_conv_stride)
    graph = phinet_graph(plan, input_shape, classes, phinet_name(alpha, beta, t0, depth),
                         activation="relu6" if compatibility else "hswish")
    return graph, phinet_plan_costs(plan, input_shape, classes)


def resnet_graph_and_costs(width: float, depth: int, input_shape: tuple[int, int, int], classes: int
                           ) -> tuple[Graph, PlanCosts]:
    return resnet_graph(width, depth, input_shape, classes), resnet_costs(width, depth, input_shape, classes)


def tinynet_graph_and_costs(width: float, depth: int, input_shape: tuple[int, int, int], classes: int
                            ) -> tuple[Graph, PlanCosts]:
    return tinynet_graph(width, depth, input_shape, classes), tinynet_costs(width, depth, input_shape, classes)


def estimate_phinet(alpha: float, beta: float, t0: float, depth: int, input_shape: tuple[int, int, int],
                    classes: int, engine: Engine | str = DEFAULT, board: Board | None = None, **plan_knobs) -> Estimate:
    """`plan_knobs`: divisor, squeeze_excite, compatibility, first_conv_stride, downsampling_layers,
    conv5_percent, as `phinet_graph_and_costs` takes them."""
    graph, costs = phinet_graph_and_costs(alpha, beta, t0, depth, input_shape, classes, **plan_knobs)
    return estimate_from_graph(graph, costs, engine, PhiNetKnobs(alpha, beta, t0, int(round(depth))), PHINET.name,
                               board)


def estimate_resnet(width: float, depth: int, input_shape: tuple[int, int, int], classes: int,
                    engine: Engine | str = DEFAULT, board: Board | None = None) -> Estimate:
    graph, costs = resnet_graph_and_costs(width, depth, input_shape, classes)
    return estimate_from_graph(graph, costs, engine, WidthDepth(width, int(round(depth))), RESNET.name, board)


def estimate_tinynet(width: float, depth: int, input_shape: tuple[int, int, int], classes: int,
                     engine: Engine | str = DEFAULT, board: Board | None = None) -> Estimate:
    graph, costs = tinynet_graph_and_costs(width, depth, input_shape, classes)
    return estimate_from_graph(graph, costs, engine, WidthDepth(width, int(round(depth))), TINYNET.name, board)


def estimate_from_graph(graph: Graph, costs: PlanCosts, engine: Engine | str, config: Knobs, family: str,
                        board: Board | None = None, latency: LatencyEstimate | None = None,
                        structure: dict | None = None) -> Estimate:
    """Flash and arena of a predicted graph (and, with `board`, its latency on the board's core, unless the caller
    has it already). `config`: the configuration's searched knobs; `structure`: PhiNet plan knobs off their
    defaults, as the model is built with them."""
    engine = get_engine(engine)
    if board is not None and latency is None:
        latency = engine.latency(graph, costs.macs, board)
    sizes = engine.estimate(graph, kernel_family(board.core if board else None))
    return Estimate(config, costs.params, costs.macs, sizes.flash_bytes, sizes.arena_use, sizes.activations, engine,
                    family, latency, structure or {})
