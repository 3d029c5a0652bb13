"""The solve stage's part of each ranked family (`core.family.Family`): how to cost one of its configurations
without TensorFlow. Kept here, keyed by the family's name, because the graph and cost functions are the solve
stage's and core may not import them; `core.family` says why the record is split this way.
"""

from collections.abc import Callable
from dataclasses import dataclass

from tinyml_kit.core.boards import Board, load_boards
from tinyml_kit.core.errors import UserError
from tinyml_kit.core.family import (
    PHINET,
    RESNET,
    TINYNET,
    Family,
    Knobs,
    PhiNetKnobs,
    lookup,
)
from tinyml_kit.core.graph import Graph
from tinyml_kit.core.spec import phinet_blocks
from tinyml_kit.core.units import format_bytes
from tinyml_kit.solve.costs import (
    PlanCosts,
    phinet_plan_costs,
    resnet_costs,
    tinynet_costs,
)
from tinyml_kit.solve.engines import DEFAULT, Engine
from tinyml_kit.solve.estimate import (
    Estimate,
    estimate_from_graph,
    phinet_graph_and_costs,
    resnet_graph_and_costs,
    tinynet_graph_and_costs,
)

# (configuration, plan knobs, input shape, classes) -> ...
Costing = Callable[..., PlanCosts]
Graphing = Callable[..., tuple[Graph, PlanCosts]]


@dataclass(frozen=True)
class Estimator:
    """A ranked family's conversion-free costs: `costs` (parameters, MACs, activation peak: microseconds, what the
    solver screens thousands of configurations by) and `graph` (the converter-faithful graph and its costs: a few
    ms, what flash, arena and latency are estimated from)."""
    family: Family
    costs: Costing
    graph: Graphing

    def estimate(self, config: Knobs, input_shape, classes: int, engine: Engine | str = DEFAULT,
                 board: Board | None = None, structure: dict | None = None) -> Estimate:
        graph, costs = self.graph(config, structure or {}, input_shape, classes)
        return estimate_from_graph(graph, costs, engine, config, self.family.name, board, structure=structure)


def _phinet_costs(k: PhiNetKnobs, plan: dict, shape, classes: int) -> PlanCosts:
    return phinet_plan_costs(phinet_blocks(k.alpha, k.beta, k.t0, k.depth, **plan), shape, classes)


def _phinet_graph(k: PhiNetKnobs, plan: dict, shape, classes: int) -> tuple[Graph, PlanCosts]:
    return phinet_graph_and_costs(k.alpha, k.beta, k.t0, k.depth, shape, classes, **plan)


def _width_depth(family: Family, costs, graph) -> Estimator:
    """ResNet's and TinyNet's functions take (width, depth, ...) and no plan knobs."""
    return Estimator(family, lambda k, _, shape, classes: costs(k.alpha, k.depth, shape, classes),
                     lambda k, _, shape, classes: graph(k.alpha, k.depth, shape, classes))


ESTIMATORS = {
    PHINET.name: Estimator(PHINET, _phinet_costs, _phinet_graph),
    RESNET.name: _width_depth(RESNET, resnet_costs, resnet_graph_and_costs),
    TINYNET.name: _width_depth(TINYNET, tinynet_costs, tinynet_graph_and_costs),
}


def estimator(name: str) -> Estimator:
    """The estimator of family `name`, or of the ranked family it is one point of (`Family.alias_of`)."""
    f = lookup(name)
    return ESTIMATORS[f.alias_of or f.name]


def has_estimator(name: str) -> bool:
    f = lookup(name)
    return (f.alias_of or f.name) in ESTIMATORS


def require_buildable(e: Estimate, *options: str) -> None:
    """Refuse, before building it, a configuration whose estimated flash exceeds every board's: building a model of
    gigabytes takes minutes and as much memory, to learn what the estimate says in milliseconds. `options`: the
    knobs given, which the refusal names."""
    largest = max(load_boards().values(), key=lambda b: b.flash_bytes)
    if e.flash_bytes_est > largest.flash_bytes:
        raise UserError(f"{e.describe()} is estimated at {format_bytes(e.flash_bytes_est)} of flash, more than any "
                        f"board holds (the largest, {largest.id}, has {format_bytes(largest.flash_bytes)}): choose "
                        f"a smaller configuration", *options)
