"""How many instructions and cycles an int8 model takes per inference on a Cortex-M core, predicted from its graph
alone.

MACs alone mislead: on TFLM + CMSIS-NN a depthwise-heavy PhiNet runs 0.10 MAC per instruction where ResNet-8 runs
0.42. So each op is costed by what its CMSIS-NN kernel loops over: a convolution by its MACs, the im2col copies of
its input patches, its output elements (requantization) and its channels (per-channel setup); an elementwise op by
its elements, plus the MACs of an odd output pixel, which CMSIS-NN's matrix kernels run in a slower single-row
loop. The op's group follows the kernel CMSIS-NN's wrapper picks (1×1 convolutions take a fast path, 3×3
depthwise ones their own kernel, an input depth that is not a multiple of 4 the slow tail), and each group has one
linear cost per engine and core, fitted with non-negative least squares on per-op profiles of real models under
QEMU (`bench/latency_model.py`, which writes the shipped table). The same features are fitted for each quantity a
profile counts: instructions, cycles at zero wait states (the QEMU plugin's estimate from the core's timing table,
`core.timing`), and the op's data reads from flash, all of them and those missing a reference flash data cache,
which a board's wait states are charged on. Works on any `core.graph.Graph`: a .tflite read back, or the graph the
solver predicts for a candidate before anything is built.

The C engine generates its own CONV_2D and DEPTHWISE_CONV_2D kernels on the DSP family's cores (`core.cores.
KernelFamily.generates_kernels`): there those ops are groups of their own, costed by what the generated code loops
over (`solve.kernel_features`); on Helium cores, and in TFLM, every op is CMSIS-NN's.
"""

from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from tinyml_kit.core.cores import CORES, KernelFamily
from tinyml_kit.core.graph import Graph, Op
from tinyml_kit.core.latency import instruction_table
from tinyml_kit.solve.conv_layout import generated
from tinyml_kit.solve.kernel_features import GENERATED_FEATURES, conv_features, depthwise_features

# A group no profile covered is costed as the kernel closest to it: a fully connected layer is a 1×1 convolution
# of one pixel, other depthwise shapes share the 3×3 depthwise loop, pooling reads its input as MEAN does.
NEAREST_GROUP = {"FULLY_CONNECTED": "CONV_2D/1x1", "CONV_2D/1x1/odd": "CONV_2D/1x1", "CONV_2D/kxk/odd": "CONV_2D/kxk",
                 "DEPTHWISE_CONV_2D/kxk": "DEPTHWISE_CONV_2D/3x3", "DEPTHWISE_CONV_2D/mult": "DEPTHWISE_CONV_2D/3x3",
                 "AVERAGE_POOL_2D": "MEAN", "MAX_POOL_2D": "MEAN", "CONV_2D/gen/ram": "CONV_2D/gen", "ADD/gen": "ADD"}
FEATURES = ("macs", "odd_macs", "im2col", "outputs", "pixels", "inputs", "channels", "ops", *GENERATED_FEATURES)
GENERATING_ENGINE = "c"   # the engine that runs generated kernels where its cores' family has them
# What a profile counts per op (bench/latency_model.py), each fitted on FEATURES: flash misses are against
# core.timing.REFERENCE_CACHE, flash loads are every data read from flash.
QUANTITIES = ("instructions", "cycles", "flash_misses", "flash_loads")
OP_MEMO_LIMIT = 200_000   # op signatures whose costs a model keeps (a solve meets about 8,000)


def _shape(graph: Graph, tensor: int) -> tuple[int, ...]:
    return graph.tensors[tensor].shape


def _elements(graph: Graph, tensor: int) -> int:
    return graph.tensors[tensor].elements


def _generated(graph: Graph, op: Op, family: KernelFamily | None) -> bool:
    """Whether `op` runs a generated kernel in a build for `family` (None: CMSIS-NN's kernels throughout). A graph's
    convolutions are undilated; a depthwise one with a depth multiplier keeps CMSIS-NN."""
    if family is None:
        return False
    if op.kind == "CONV_2D":
        return generated((1, 1), family)
    return (op.kind == "DEPTHWISE_CONV_2D" and family.generates_kernels
            and _shape(graph, op.inputs[0])[-1] == _shape(graph, op.outputs[0])[-1])


def adds_activations(graph: Graph, op: Op) -> bool:
    """An ADD of two activations: what the C engine may run by its rescale tables (`kernel_choice`) instead of
    CMSIS-NN's arm_elementwise_add_s8 (an ADD of a constant is a lookup table)."""
    return op.kind == "ADD" and not any(graph.tensors[t].is_constant for t in op.inputs[:2])


def op_group(graph: Graph, op: Op, family: KernelFamily | None = None, in_ram: bool = False) -> str:
    """The kernel family CMSIS-NN runs for `op`, or `<kind>/gen` where the C engine's build for `family` generates
    its kernel, `CONV_2D/gen/ram` where that convolution reads its weights from RAM (`in_ram`,
    `solve.weight_placement`: its inner loop differs): what its instructions scale with differs between them."""
    if _generated(graph, op, family):
        return f"{op.kind}/gen/ram" if in_ram and op.kind == "CONV_2D" else f"{op.kind}/gen"
    if family is not None and family.generates_kernels and adds_activations(graph, op):
        return "ADD/gen"   # by its two rescale tables (`engine.elementwise.add`), about 3x faster than CMSIS-NN's
    if op.kind == "CONV_2D":
        cin = _shape(graph, op.inputs[0])[-1]
        if op.kernel == 1:
            return "CONV_2D/1x1" if cin % 4 == 0 else "CONV_2D/1x1/odd"
        return "CONV_2D/kxk" if cin % 4 == 0 else "CONV_2D/kxk/odd"
    if op.kind == "DEPTHWISE_CONV_2D":
        c_in, c_out = _shape(graph, op.inputs[0])[-1], _shape(graph, op.outputs[0])[-1]
        if c_in != c_out:
            return "DEPTHWISE_CONV_2D/mult"
        return "DEPTHWISE_CONV_2D/3x3" if op.kernel == 3 else "DEPTHWISE_CONV_2D/kxk"
    return op.kind


def op_features(graph: Graph, op: Op, family: KernelFamily | None = None, in_ram: bool = False
                ) -> dict[str, float]:
    """What the op's kernel loops over (FEATURES) in a build for `family` (and weights in RAM, as `op_group`);
    zero where a feature does not apply."""
    out = _elements(graph, op.outputs[0])
    inp = _elements(graph, op.inputs[0]) if op.inputs else 0
    channels = max(1, _shape(graph, op.outputs[0])[-1]) if _shape(graph, op.outputs[0]) else 1
    f = dict.fromkeys(FEATURES, 0.0)
    f.update(outputs=out, pixels=out // channels, inputs=inp, channels=channels, ops=1.0)
    if _generated(graph, op, family):
        if op.kind == "CONV_2D":
            conv_features(graph, op, f, in_ram)
        else:
            depthwise_features(graph, op, f)
        return f
    if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
        weights = _shape(graph, op.inputs[1])
        if op.kind == "CONV_2D":
            k_elems = weights[1] * weights[2] * weights[3]       # kh × kw × Cin per output element
        elif op.kind == "DEPTHWISE_CONV_2D":
            k_elems = weights[1] * weights[2]
        else:
            k_elems = weights[-1]
        f["macs"] = out * k_elems
        if op.kind == "CONV_2D" and op.kernel > 1:
            f["im2col"] = (out // channels) * k_elems               # one patch per output pixel
        if op.kind != "DEPTHWISE_CONV_2D" and f["pixels"] % 2:
            # CMSIS-NN's matrix kernels take output pixels two at a time; an odd one out (a 1×1 feature map, a
            # fully connected layer) runs a slower single-row loop
            f["odd_macs"] = f["macs"] / f["pixels"]
    return f


def op_signature(graph: Graph, op: Op) -> tuple:
    """All of an op that its group and features depend on."""
    tensors = [graph.tensors[i] for i in (*op.inputs, *op.outputs)]
    return (op.kind, op.kernel_hw, op.stride_hw, len(op.inputs),
            tuple((t.shape, t.dtype, t.is_constant) for t in tensors))


@dataclass(frozen=True)
class LinearCosts:
    """One quantity's per-group linear costs, as fitted; `fallback` costs a group never profiled by its elements,
    so an unseen op is estimated, not ignored."""
    groups: dict[str, dict[str, float]]
    fallback: dict[str, float]

    def cost(self, group: str, features: dict[str, float]) -> float:
        return sum(w * features.get(k, 0.0) for k, w in self._terms(group))

    def _terms(self, group: str) -> tuple[tuple[str, float], ...]:
        """The nonzero (feature, coefficient) pairs costing `group`, worked out once per group (the solver costs
        thousands of ops per answer)."""
        terms = self._memo.get(group)
        if terms is None:
            coef = self.groups.get(group) or self.groups.get(NEAREST_GROUP.get(group, ""), self.fallback)
            terms = self._memo[group] = tuple((k, coef[k]) for k in FEATURES if coef.get(k))
        return terms

    @cached_property
    def _memo(self) -> dict[str, tuple[tuple[str, float], ...]]:
        return {}

    @classmethod
    def from_dict(cls, d: dict) -> "LinearCosts":
        return cls(d["groups"], d["fallback"])


@dataclass(frozen=True)
class OpCostModel:
    """Per-op costs for one engine on one core: a `LinearCosts` per profiled quantity (QUANTITIES; a table
    fitted before cycle profiles holds instructions only)."""
    engine: str
    core: str
    costs: dict[str, LinearCosts]

    def cost(self, group: str, features: dict[str, float], quantity: str = "instructions") -> float:
        return self.costs[quantity].cost(group, features)

    @property
    def family(self) -> KernelFamily | None:
        """The kernel family whose generated kernels the engine runs on this core (`op_group`), or None."""
        return CORES[self.core].family if self.engine == GENERATING_ENGINE and self.core in CORES else None

    def per_op(self, graph: Graph, quantity: str = "instructions") -> list[float]:
        return self.per_op_counts(graph, (quantity,))[quantity]

    def per_op_counts(self, graph: Graph, quantities: tuple[str, ...], families: list[KernelFamily | None] |
                      None = None, in_ram: frozenset[int] = frozenset()) -> dict[str, list[float]]:
        """Each quantity per op, the ops' groups and features worked out once; `families`: per op, the family whose
        generated kernel it runs or None for CMSIS-NN's (default: this model's family for every op); `in_ram`:
        the generated convolutions (op indices) reading their weights from RAM."""
        families = [self.family] * len(graph.ops) if families is None else families
        ops = [self.op_counts(graph, op, fam, i in in_ram, quantities)
               for i, (op, fam) in enumerate(zip(graph.ops, families, strict=True))]
        return {q: [counts[j] for counts in ops] for j, q in enumerate(quantities)}

    def op_counts(self, graph: Graph, op: Op, family: KernelFamily | None, in_ram: bool,
                  quantities: tuple[str, ...], signature: tuple | None = None) -> tuple[float, ...]:
        """Each quantity of one op on `family`'s generated kernel (None: CMSIS-NN's), its weights in RAM or not.
        Worked out once per op signature (what a group and its features are read from: the op's kind, kernel and
        strides and its tensors' shapes): the configurations the solver predicts share many layers. `signature`:
        `opop_signature(graph, op)`, for a caller costing one op on several kernels."""
        key = (signature or op_signature(graph, op), family, in_ram, quantities)
        counts = self._op_memo.get(key)
        if counts is None:
            if len(self._op_memo) > OP_MEMO_LIMIT:   # a long process (a sweep, a test session) meets many more
                self._op_memo.clear()
            group, features = op_group(graph, op, family, in_ram), op_features(graph, op, family, in_ram)
            counts = self._op_memo[key] = tuple(self.cost(group, features, q) for q in quantities)
        return counts

    @cached_property
    def _op_memo(self) -> dict[tuple, tuple[float, ...]]:
        return {}

    @property
    def has_cycles(self) -> bool:
        return all(q in self.costs for q in QUANTITIES)

    @classmethod
    def from_dict(cls, d: dict) -> "OpCostModel":
        """A table entry: the instruction costs at its top level (as tables before cycles had them), each other
        quantity under its name."""
        costs = {q: LinearCosts.from_dict(d if q == "instructions" else d[q]) for q in QUANTITIES
                 if q == "instructions" or q in d}
        return cls(d["engine"], d["core"], costs)


@lru_cache(maxsize=1)
def load_models() -> dict[tuple[str, str], OpCostModel]:
    """The shipped table, keyed by (engine, core id)."""
    models = {(m["engine"], m["core"]): OpCostModel.from_dict(m) for m in instruction_table()["models"]}
    return {key: _with_cmsis_groups(model, models.get(("tflm", key[1]))) for key, model in models.items()}


def _with_cmsis_groups(model: OpCostModel, tflm: OpCostModel | None) -> OpCostModel:
    """The C engine's model with the CMSIS-NN groups its profiles lack taken from TFLM's on the same core: the C
    engine calls the same CMSIS-NN kernels where it does not generate its own (`kernel_choice`), and its profiles,
    all of generated kernels, fit only those."""
    if model.engine != GENERATING_ENGINE or tflm is None:
        return model
    costs = {q: LinearCosts({**tflm.costs[q].groups, **c.groups}, c.fallback) if q in tflm.costs else c
             for q, c in model.costs.items()}
    return OpCostModel(model.engine, model.core, costs)


def instruction_model(engine: str, core: str) -> OpCostModel | None:
    """The fitted model for `engine` ("tflm": TFLM with CMSIS-NN kernels; "c": the C engine) on an emulated core
    id. Where the C engine was never profiled TFLM's stands in (on Helium cores both call CMSIS-NN's kernels);
    None when the core was never profiled."""
    models = load_models()
    return models.get((engine, core)) or models.get(("tflm", core))


def _nnls(rows: list[dict], features: tuple[str, ...], target: str) -> dict[str, float]:
    """Non-negative least squares of `target` (a quantity each row counts) on `features`, each op weighted by
    1 / its instructions so that small ops' errors relative to their work count as much as large ones' (small
    models are made of them). Relative to the op's work, not to the target: an op's flash misses can be near
    zero, and weighting by them would fit those ops and ignore the ones whose misses cost time. Columns are
    scaled to unit norm for conditioning; a feature that is zero on every op gets no weight."""
    from scipy.optimize import nnls

    used = [k for k in features if any(r["features"][k] for r in rows)]
    x = np.array([[r["features"][k] for k in used] for r in rows], dtype=float)
    y = np.array([r[target] for r in rows], dtype=float)
    weight = 1.0 / np.maximum([r["instructions"] for r in rows], 1.0)
    x, y = x * weight[:, None], y * weight
    scale = np.linalg.norm(x, axis=0)
    scale[scale == 0] = 1.0
    w, _ = nnls(x / scale, y)
    return {k: float(v) for k, v in zip(used, w / scale, strict=False)}


def _fit_costs(groups: dict[str, list[dict]], elementwise: list[dict], target: str) -> dict:
    return {"groups": {g: _nnls(rows, FEATURES, target) for g, rows in sorted(groups.items())},
            "fallback": _nnls(elementwise, ("outputs", "inputs", "ops"), target)}


def fit_instruction_model(engine: str, core: str, ops: list[dict]) -> dict:
    """Per-group costs from profiled ops (each a dict with `group`, `features` and the QUANTITIES it counts),
    plus the fallback for unseen groups: the elementwise ops' cost per element, fitted on every op outside the
    convolutions. One fit per quantity every op counts (instructions always). Returns a table entry
    (`OpCostModel.from_dict`)."""
    groups: dict[str, list[dict]] = {}
    for op in ops:
        groups.setdefault(op["group"], []).append(op)
    elementwise = [op for op in ops if not op["group"].startswith(("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY"))]
    entry = {"engine": engine, "core": core, **_fit_costs(groups, elementwise or ops, "instructions")}
    for q in QUANTITIES[1:]:
        if all(q in op for op in ops):
            entry[q] = _fit_costs(groups, elementwise or ops, q)
    return entry
