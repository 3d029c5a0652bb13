"""Which kernel runs each convolution, depthwise convolution and ADD of the C engine: the kernel generated for the
layer, or the CMSIS-NN call it replaces. One rule (`choose`; `c_size.model_kernels` applies it to a graph) for the code
generator (`engine.codegen`), the static plan and the flash estimate (`solve.c_size`), so all three count the
kernels the firmware runs; plan.json lists each layer's (`engine.memory_map`).

Why a choice: a generated kernel is about twice as fast as CMSIS-NN's (ADD by tables about 3x), but its code is
the layer's own (shapes are constants of the text) and some of its constants are larger (a depthwise layer's edge
biases, an ADD's two 1 KB input tables), while a CMSIS-NN call is a few dozen bytes into a library every layer
shares. On a small feature map a kernel saves a few thousand instructions for a kilobyte or two of flash.

The policy: generated kernels may add at most `FLASH_ALLOWANCE` of the model's flash on CMSIS-NN alone (its
constants, structs and code, `c_size`, and the CMSIS-NN code it links); within it the layers that save the most
instructions per extra byte get theirs first, and a layer whose kernel saves at least `ALWAYS_PER_BYTE`
instructions per byte keeps it beyond the allowance. Where every layer of a kind then runs generated, CMSIS-NN's code
for that kind is not linked (`LIBRARY_BYTES`), and a kind whose remaining layers cost less than that code runs
generated throughout. So a model whose kernels are cheap keeps them all (ResNet-8), and one whose kernels would
make its firmware a third larger keeps those that carry the speed-up. `FLASH_ALLOWANCE` is the plan's one knob: a
board with flash to spare could afford more.

The instructions saved are CMSIS-NN's for the layer (`solve.instructions`' fitted model of the C engine on
CMSIS-NN, Cortex-M4F) times the share a generated kernel saves (`SAVED_SHARE`, measured per op on MobileNetV2 and
PhiNet under QEMU). The extra flash bytes are the generated kernel's code and constants minus the call's, counted
by `solve.c_size` as it estimates the model.
"""

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import lru_cache

from tinyml_kit.core.graph import Graph, Op, Tensor
from tinyml_kit.solve.instructions import instruction_model, op_features, op_group

# Instructions a generated kernel saves per instruction of CMSIS-NN's for the same layer, measured per op on the
# emulated Cortex-M4F (MobileNetV2 small, PhiNet medium: generated 0.44-0.59 of CMSIS-NN's for convolutions,
# 0.5-0.7 for depthwise, 0.3 for ADD).
SAVED_SHARE = {"CONV_2D": 0.5, "DEPTHWISE_CONV_2D": 0.45, "ADD": 0.7}
# What generated kernels may add to the model's flash on CMSIS-NN alone (the bound: 1.15x) ...
FLASH_ALLOWANCE = 0.15
# ... beyond which a layer's kernel is still generated if each of its extra bytes saves at least this many
# instructions per inference (a kilobyte for 0.85 ms at 120 MHz: a residual ADD of ResNet-8, a MobileNet's
# first layers): flash no application would rather keep.
ALWAYS_PER_BYTE = 100.0
# Code of CMSIS-NN's s8 kernels a kind links (arm-none-eabi-gcc 12.2, -O2, Cortex-M4F; from the ELF's symbols):
# the convolution wrappers, im2col and matrix kernels; the depthwise wrappers and kernels; arm_elementwise_add_s8.
LIBRARY_BYTES = {"CONV_2D": 7200, "DEPTHWISE_CONV_2D": 4200, "ADD": 1320}


@dataclass(frozen=True)
class LayerKernel:
    """One layer's kernel: whether it runs generated, the flash bytes its generated kernel adds over CMSIS-NN's call
    (code and constants) and the instructions per inference it saves. A layer no generated kernel covers (dilated,
    a depth multiplier, a Helium core) is no candidate. Layers of one `share` key run one function (the code
generator names a depthwise function by a hash of its text): its `shared_code` bytes are paid once. A generated
convolution the plan gave RAM for reads its weights widened there (`weights_in_ram`,
`conv_layout.ram_weight_layers`), which its function's inner loop is written for."""
    kind: str
    generated: bool
    extra_bytes: int
    saved_instructions: int
    shared_code: int = 0
    share: tuple | None = None
    weights_in_ram: bool = False

    @property
    def kernel(self) -> str:
        return "generated" if self.generated else "cmsis_nn"

    def cost(self, shared: set) -> int:
        """The flash it adds when the layers of the keys `shared` are generated already."""
        return self.extra_bytes - (self.shared_code if self.share is not None and self.share in shared else 0)

    def per_byte(self, cost: int) -> float:
        """Instructions saved per extra flash byte at `cost`: the order the allowance is spent in."""
        return self.saved_instructions / max(cost, 1)

    def to_dict(self) -> dict:
        return dict(kernel=self.kernel, extra_flash_bytes=self.extra_bytes,
                    saved_instructions=self.saved_instructions)


@lru_cache(maxsize=1)
def _cmsis_model():
    return instruction_model("c", "m4")


def cmsis_instructions(kind: str, in_hwc: tuple, weights: tuple, out_hwc: tuple, kernel_hw: tuple,
                       stride_hw: tuple) -> float:
    """CMSIS-NN's instructions for one layer, from the fitted per-op model (a one-op graph of its shapes)."""
    tensors = [Tensor("in", (1, *in_hwc)), Tensor("w", weights, data_bytes=1), Tensor("out", (1, *out_hwc))]
    graph = Graph("layer", tensors, [Op(kind, (0, 1), (2,), stride_hw[0], kernel_hw[0], stride_hw[1], kernel_hw[1])])
    model = _cmsis_model()
    return 0.0 if model is None else model.cost(op_group(graph, graph.ops[0]), op_features(graph, graph.ops[0]))


def candidate(kind: str, extra_bytes: float, cmsis_instructions: float, shared_code: float = 0,
              share: tuple | None = None) -> LayerKernel:
    """A layer's generated kernel as a candidate: the flash it adds over CMSIS-NN's call (`solve.c_size` counts
    it), the instructions it saves of CMSIS-NN's, and the code it shares with the layers of key `share`."""
    return LayerKernel(kind, True, int(round(extra_bytes)), int(round(SAVED_SHARE[kind] * cmsis_instructions)),
                       int(round(shared_code)), share)


def choose(candidates: dict[int, LayerKernel], linked_flash: Callable[[dict[int, LayerKernel]], float],
           allowance: float = FLASH_ALLOWANCE) -> dict[int, LayerKernel]:
    """Each candidate's kernel (by op index), the allowance spent as the module says; `linked_flash(kernels)` is
    the firmware's flash with those kernels and the CMSIS-NN code they link (`c_size.linked_flash`)."""
    chosen = {i: replace(k, generated=False) for i, k in candidates.items()}
    kinds = {k.kind for k in candidates.values()}
    left = _spend(candidates, chosen, allowance * linked_flash(chosen))
    for kind in sorted(kinds, key=lambda kind: _rest_bytes(chosen, kind) - LIBRARY_BYTES[kind]):
        if _rest_bytes(chosen, kind) <= max(left, 0) + LIBRARY_BYTES[kind]:   # no layer of the kind on CMSIS-NN
            left -= _rest_bytes(chosen, kind) - LIBRARY_BYTES[kind]
            chosen.update({i: candidates[i] for i, k in chosen.items() if k.kind == kind})
    _spend(candidates, chosen, left)   # what the libraries no longer linked leave
    return chosen


def sharing(kernels: dict[int, LayerKernel], i: int) -> tuple[int, ...]:
    """The layers (op indices, in order) that run op i's generated function: those of its `share` key generated
    too, whose weights are where op i's are (flash or RAM: the inner loops differ); op i alone where it has no key
    or runs on CMSIS-NN."""
    k = kernels.get(i)
    if k is None or not k.generated or k.share is None:
        return (i,)
    return tuple(j for j, other in sorted(kernels.items())
                 if other.generated and (other.share, other.weights_in_ram) == (k.share, k.weights_in_ram))


def in_ram(kernels: dict[int, LayerKernel], ram: set[int]) -> dict[int, LayerKernel]:
    """`kernels` with the layers `ram` (op indices, generated convolutions) reading their weights from RAM."""
    return {i: replace(k, weights_in_ram=True) if i in ram else k for i, k in kernels.items()}


def linked_libraries(kernels: dict[int, LayerKernel]) -> int:
    """CMSIS-NN's code for each kind a layer still calls it for."""
    return sum(LIBRARY_BYTES[kind] for kind in {k.kind for k in kernels.values() if not k.generated})


def _shared(chosen: dict[int, LayerKernel]) -> set:
    return {k.share for k in chosen.values() if k.generated and k.share is not None}


def _rest_bytes(chosen: dict[int, LayerKernel], kind: str) -> int:
    """What the layers of `kind` still on CMSIS-NN would add, generated (a shared function once)."""
    shared, total = _shared(chosen), 0
    for k in (k for k in chosen.values() if k.kind == kind and not k.generated):
        total += k.cost(shared)
        shared.add(k.share)
    return total


def _spend(candidates: dict[int, LayerKernel], chosen: dict[int, LayerKernel], left: float) -> float:
    """Generate the layers still on CMSIS-NN that fit in `left` bytes, most instructions per byte first (a layer
    whose function another generated layer has costs its constants alone); returns what is left."""
    while True:
        shared = _shared(chosen)
        costs = {i: k.cost(shared) for i, k in candidates.items() if not chosen[i].generated}
        fitting = [i for i, c in costs.items() if c <= left or candidates[i].per_byte(c) >= ALWAYS_PER_BYTE]
        if not fitting:
            return left
        best = max(fitting, key=lambda i: (candidates[i].per_byte(costs[i]), -i))
        chosen[best], left = candidates[best], left - max(costs[best], 0)
