"""Which generated convolutions read their weights from RAM: the code generator copies them there at start-up
(`engine.codegen.compile_model`) and the latency estimate costs them so (`solve.latency_estimate`), both by this
one decision, so a predicted time is the time of the build that runs.

A layer's constants go to RAM, the weights widened to int16, while they fit half of what the arena leaves of the
board's model RAM (`conv_layout.weight_ram_budget`), most MACs per byte first (`conv_layout.ram_weight_layers`).
Only the shapes matter (the MACs and the bytes of a layer's copies), so a `Graph` read from a .tflite or predicted
for a candidate gives the same layers as the model the code generator lowers.
"""

from tinyml_kit.core.cores import KernelFamily
from tinyml_kit.core.graph import Graph
from tinyml_kit.solve.conv_layout import graph_layout, ram_weight_layers, weight_ram_budget
from tinyml_kit.solve.kernel_choice import LayerKernel
from tinyml_kit.solve.static_plan import graph_arena_bytes


def ram_weight_ops(graph: Graph, kernels: dict[int, LayerKernel], ram_bytes: int, arena_bytes: int) -> set[int]:
    """The op indices of the generated CONV_2D layers of `kernels` (the per-layer choice, `c_size.model_kernels`)
    whose weights the plan puts in RAM on a target of `ram_bytes` of model RAM (0: unknown, none) beside an arena
    of `arena_bytes`."""
    if not ram_bytes:
        return set()
    layouts = {i: graph_layout(graph, op) for i, op in enumerate(graph.ops)
               if op.kind == "CONV_2D" and i in kernels and kernels[i].generated}
    return ram_weight_layers(layouts, weight_ram_budget(ram_bytes, arena_bytes))


def graph_ram_weight_ops(graph: Graph, family: KernelFamily, kernels: dict[int, LayerKernel],
                         ram_bytes: int) -> set[int]:
    """`ram_weight_ops` beside the graph's own static arena (`static_plan.plan_graph`, the code generator's)."""
    if not ram_bytes or not any(k.generated and k.kind == "CONV_2D" for k in kernels.values()):
        return set()
    return ram_weight_ops(graph, kernels, ram_bytes, graph_arena_bytes(graph, family, kernels))
