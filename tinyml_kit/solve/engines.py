"""The engines a model runs on (TFLM interpreting the flatbuffer; the C engine, the model compiled to CMSIS-NN
calls with a static arena), as objects: each owns what differs between them, so no other module asks an
engine's name.

The stages are layered (core, solve, ..., engine, export, check, pipeline) and the lower ones never reach
TensorFlow or the later stages, so an engine is one object here plus one part per later stage that needs one:

- here, in `solve` (below every stage that asks): the facts all stages share, and the hooks the solver needs
  without TensorFlow: the ops it runs (`ops`, `require_ops`), its flash and arena estimate from a predicted graph
  (`estimate`), the floors that screen a configuration before it (`floors`), the rough sizes of a built model
  from its counts (`rough`), its arena headroom rule (`arena_alloc`), its cycle model (`latency`) and its
  wording (`words`);
- in the stage that implements it, a part registered under the engine's name and found by `Engine.part` (the
  object cannot hold them: `solve` may not import the stages that implement them, even inside a function): how a
  model is packaged for it (`export.firmware.PACKAGING`), its measured footprint, host check and `analyze` plan
  (`check.engines.CHECKS`), its firmware for `verify` and the tree it builds on (`check.verify`), how `export`
  reads a .tflite for it (`pipeline.exporting`).

A third engine is one more subclass here and one part in each of those registries (a test checks that every
registry has a part for every engine). The CLI and the API take the name ("tflm", "c") and turn it into the
object once, with `get_engine`; records (report.json, `verify`'s results) keep the name.

Every run is also checked on TFLM beside LiteRT (`check.evaluate`), whatever its engine (`CHECKER`, `run_on`), so
the ops a run can take are those of its engine and of the checker (`require_ops`); `solve` judges a PhiNet style
by the same rule (`require_style`), so it never suggests a `fit` that `fit` refuses.
"""

from dataclasses import dataclass, field
from typing import TypeVar

from tinyml_kit.core.arena import arena_with_headroom
from tinyml_kit.core.boards import Board
from tinyml_kit.core.cores import KernelFamily
from tinyml_kit.core.errors import UserError, param
from tinyml_kit.core.graph import Graph
from tinyml_kit.core.style_ops import STYLE_OPS
from tinyml_kit.core.tflm_ops import TFLM_BUILTINS
from tinyml_kit.solve.c_size import PER_CHANNEL_BYTES, c_engine_costs
from tinyml_kit.solve.costs import PlanCosts, estimate_flash_bytes
from tinyml_kit.solve.latency_estimate import LatencyEstimate, estimate_latency
from tinyml_kit.solve.static_plan import LUT_OPS
from tinyml_kit.solve.tflite_size import tflite_bytes
from tinyml_kit.solve.tflm_arena import arena_bytes

T = TypeVar("T")

# Lower bounds used to drop configurations before estimating them in full on TFLM. Per output channel of a
# convolution: the compact flatbuffer stores an int32 bias and a scale for weights and bias (their zero points are
# shared); the arena keeps an int32 multiplier and shift. Per operator, beyond 10 B per channel (tables, TFLM's
# node and tensor records): the smallest residual over 400 random PhiNets at 32–160 px, both stem strides, was
# 242 B of flash (by `tflite_bytes(graph, compact=True)`), and 187 B of arena.
FLASH_FLOOR_PER_CHANNEL, FLASH_FLOOR_PER_OP = 10, 230
ARENA_FLOOR_PER_CHANNEL, ARENA_FLOOR_PER_OP = 8, 175
ARENA_OVERHEAD_EST = 2048  # TFLM's persistent allocations for a small graph, on top of the activations


@dataclass(frozen=True)
class Sizes:
    """Flash and arena of a model on an engine: `arena_use` is what the engine uses, `arena_alloc` what a
    firmware reserves (with the engine's headroom), `activations` the planned part of the use."""
    flash_bytes: int
    arena_use: int
    arena_alloc: int
    activations: int


@dataclass(frozen=True)
class Words:
    """How reports name the engine and the basis of its figures; `{used}` is the arena it uses, in bytes."""
    title: str              # "TFLM + CMSIS-NN"
    runtime: str            # the report's subtitle
    kernels: str            # what the flash reserve is for, beside the HAL and application
    measuring: str          # "converting to int8 and measuring ..."
    flash_estimate: str     # what the solver's flash estimate is
    flash_measured: str
    arena_estimate: str
    arena_measured: str
    arena_verdict: str      # the measured arena's basis in `fit`'s last line
    arena_tag: str          # after a measured arena in a log line
    lacks: str              # "which ... " an op it does not run
    firmware: str           # what a `verify` firmware runs, `{kernels}` the kernels it links
    firmware_short: str
    arena_host: str         # the arena the host stands by beside a firmware's, `{used}` its bytes
    between_ops: str        # what a profiled firmware runs outside the ops' kernels


@dataclass(frozen=True)
class Engine:
    name: str
    ops: frozenset[str] = field(repr=False)   # the TFLite builtin ops it runs
    words: Words = field(repr=False)
    runs_flatbuffer: bool         # True: the firmware links TFLM and the flatbuffer; False: generated C
    # the kernels with which a firmware's outputs equal LiteRT's reference kernels bit for bit (TFLM's CMSIS-NN
    # kernels round some ops otherwise; the C engine's calls reproduce the reference arithmetic)
    exact_kernels: frozenset[str] = frozenset({"ref"})

    def arena_alloc(self, used: int) -> int:
        """The arena a firmware reserves for an engine that uses `used` bytes."""
        raise NotImplementedError

    def estimate(self, graph: Graph, family: KernelFamily = KernelFamily.DSP) -> Sizes:
        """Flash and arena of a predicted (or converted) graph, conversion-free, built for `family`'s kernels
        (`core.cores.kernel_family` of the board's core)."""
        raise NotImplementedError

    def floors(self, costs: PlanCosts) -> tuple[int, int]:
        """Lower bounds of flash and arena (as compared with the budget) from a plan's counts alone."""
        raise NotImplementedError

    def rough(self, params: int, channels: int, op_count: int, activation_peak: int) -> Sizes:
        """Rough sizes of a built model from its counts, for families without conversion-free estimates."""
        raise NotImplementedError

    def latency(self, graph: Graph, macs: int, board: Board, fastest: bool = False,
                ram_bytes: int | None = None) -> LatencyEstimate:
        """Its per-op cycle model on the board (`solve.instructions`, fitted per engine and core); `fastest` and
        `ram_bytes` (the model RAM a budget leaves, default the board's) as `estimate_latency` has them."""
        return estimate_latency(graph, macs, board, self.name, fastest, ram_bytes)

    def expects_bit_exact(self, kernels: str) -> bool:
        """Whether a `verify` firmware built with `kernels` must give LiteRT's outputs exactly (a TFLM one: or
        TFLM's on the host, where the check found the two runtimes' kernels rounding an op differently)."""
        return kernels in self.exact_kernels

    def missing_ops(self, ops) -> list[str]:
        return sorted({op for op in ops if op not in self.ops})

    def require_ops(self, ops, what: str = "the model", fix: str = "", *options: str, others: tuple = (),
                    checker: bool = False) -> None:
        """Refuse, by name, ops this engine does not run: use one of `others` (engine names) or `fix` (e.g.
        "another activation (relu6)"); `options` name what chose the ops (the CLI points at them). `checker`: the
        model runs on this engine to be checked (`CHECKER`)."""
        missing = self.missing_ops(ops)
        if not missing:
            return
        fixes = ([param("engine", " or ".join(others))] if others else []) + ([fix] if fix else [])
        plural = "s" if len(missing) > 1 else ""
        checked = " (every run is checked on it beside LiteRT)" if checker else ""
        raise UserError(f"{what} converts to the {', '.join(missing)} op{plural}, which {self.words.lacks}{checked}: "
                        + (f"use {' or '.join(fixes)}" if fixes else
                           f"rebuild it without {'those ops' if plural else 'that op'}"),
                        *(("engine",) if others else ()), *options)

    def part(self, parts: dict[str, T]) -> T:
        """This engine's part in a later stage's registry."""
        if self.name not in parts:
            raise UserError(f"engine '{self.name}' cannot do this yet: use another engine", "engine")
        return parts[self.name]

    def __str__(self) -> str:
        return self.name


class TflmEngine(Engine):
    """TFLM's interpreter on the compact flatbuffer: its arena differs between its builds (kernel scratch buffers
    differ between reference and CMSIS-NN kernels), so a firmware reserves headroom."""

    def arena_alloc(self, used: int) -> int:
        return arena_with_headroom(used)

    def estimate(self, graph: Graph, family: KernelFamily = KernelFamily.DSP) -> Sizes:
        arena = arena_bytes(graph)
        return Sizes(tflite_bytes(graph, compact=True), arena.total_bytes, arena_with_headroom(arena.total_bytes),
                     arena.head_bytes)

    def floors(self, costs: PlanCosts) -> tuple[int, int]:
        return (costs.params + FLASH_FLOOR_PER_CHANNEL * costs.channels + FLASH_FLOOR_PER_OP * costs.op_count,
                arena_with_headroom(costs.peak_activation_bytes + ARENA_FLOOR_PER_CHANNEL * costs.channels
                                    + ARENA_FLOOR_PER_OP * costs.op_count))

    def rough(self, params: int, channels: int, op_count: int, activation_peak: int) -> Sizes:
        arena = activation_peak + ARENA_OVERHEAD_EST
        return Sizes(estimate_flash_bytes(params, channels, op_count), arena, arena_with_headroom(arena),
                     activation_peak)


class CEngine(Engine):
    """The model compiled to C on CMSIS-NN: its static plan is the arena, exactly, so it gets no headroom. The
    plan is made for the board's kernel family (CMSIS-NN's scratch sizes differ with Helium)."""

    def arena_alloc(self, used: int) -> int:
        return used

    def estimate(self, graph: Graph, family: KernelFamily = KernelFamily.DSP) -> Sizes:
        c = c_engine_costs(graph, family)
        return Sizes(c.flash_bytes, c.arena_bytes, c.arena_bytes, c.arena_bytes)

    def floors(self, costs: PlanCosts) -> tuple[int, int]:
        """Its flash holds at least every parameter (its 9 bytes per channel exceed the 2 batch-norm parameters a
        channel counts), and its arena at least half the largest pair of tensors (in-place ops keep the other)."""
        return costs.params, costs.peak_activation_bytes // 2

    def rough(self, params: int, channels: int, op_count: int, activation_peak: int) -> Sizes:
        """Weights and 9 bytes per channel; the plan keeps at most the largest pair of tensors."""
        return Sizes(params + PER_CHANNEL_BYTES * channels, activation_peak, activation_peak, activation_peak)


TFLM = TflmEngine("tflm", frozenset(TFLM_BUILTINS), Words(
    title="TFLM + CMSIS-NN", runtime="TensorFlow Lite Micro", kernels="TFLM, kernels", measuring="on TFLM",
    flash_estimate="compact flatbuffer for TFLM",
    flash_measured="the compact flatbuffer TFLM firmware links, measured",
    arena_estimate="TFLM use {used:,} + headroom", arena_measured="{used:,} B measured on TFLM + headroom",
    arena_verdict="measured {used:,} + headroom", arena_tag="incl. headroom", lacks="TFLM has no kernel for",
    firmware="TFLM {kernels} kernels",
    firmware_short="TFLM {kernels}", arena_host="host measured {used:,}",
    between_ops="TFLM's interpreter between ops"), runs_flatbuffer=True)
# The ops `engine.codegen.LOWERINGS` lowers (a test holds them equal)
C_ENGINE_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "AVERAGE_POOL_2D", "MAX_POOL_2D", "ADD",
                          "MUL", "MEAN", "PAD", "PADV2", "RESHAPE", "SQUEEZE", "SOFTMAX",
                          "CONCATENATION", "SUB", "MAXIMUM", "MINIMUM", "STRIDED_SLICE", "TRANSPOSE",
                          "RESIZE_NEAREST_NEIGHBOR", "REDUCE_MAX", *LUT_OPS})
C = CEngine("c", C_ENGINE_OPS, Words(
    title="the C engine on CMSIS-NN", runtime="C on CMSIS-NN (static arena)", kernels="the C engine's kernels",
    measuring="the C engine's build", flash_estimate="C engine: constants + code",
    flash_measured="the C engine's model: constants (exact) + code (estimated)",
    arena_estimate="the C engine's static plan, exact", arena_measured="the C engine's static plan, exact",
    arena_verdict="the C engine's static plan", arena_tag="(static plan)", lacks="the C engine does not run",
    firmware="the C engine on CMSIS-NN",
    firmware_short="C engine", arena_host="static plan {used:,}",
    between_ops="the generated code between the kernel calls (argument set-up, the run wrapper) and the timing "
                "harness"), runs_flatbuffer=False,
    exact_kernels=frozenset({"ref", "cmsis_nn"}))
ENGINES: dict[str, Engine] = {e.name: e for e in (TFLM, C)}
CHECKER = TFLM   # the engine every run is checked on beside LiteRT (`check.evaluate`)
DEFAULT = C      # the engine a command runs when none is named: smaller and no slower than TFLM on every model
FALLBACK = TFLM  # ... and the one it falls back to for a model with an op the default does not run


def default_engine(ops, what: str = "the model") -> tuple[Engine, str]:
    """The engine for a model of `ops` when the user named none: `DEFAULT`, or `FALLBACK` when the default does
    not run some of them, with the one line that says which (empty when there is no fallback)."""
    missing = DEFAULT.missing_ops(ops)
    if not missing:
        return DEFAULT, ""
    plural = "s" if len(missing) > 1 else ""
    return FALLBACK, fallback_line(f"{what} has the {', '.join(missing)} op{plural}, which {DEFAULT.words.lacks}")


def fallback_line(reason: str) -> str:
    """The warning a command gives when it runs a model on `FALLBACK` instead of `DEFAULT`."""
    return f"{reason}: running on {FALLBACK.words.title} instead (naming an engine silences this line)"


def run_on(engine: Engine) -> list[Engine]:
    """The engines `fit` and `compress` run a model on: its own, and the checker (`check.evaluate` compares TFLM
    with LiteRT on every run, whatever the engine)."""
    return [engine] if engine is CHECKER else [engine, CHECKER]


def runs(ops, engine: Engine) -> bool:
    """Whether a run on `engine` can take a model of `ops` (`run_on`)."""
    return all(not e.missing_ops(ops) for e in run_on(engine))


def require_ops(ops, engine: Engine, what: str = "the model", fix: str = "", *options: str) -> None:
    """Ops that `engine`, or the checker beside it, does not run, refused by name, offering the engines that
    run them (`Engine.require_ops`)."""
    others = tuple(e.name for e in ENGINES.values() if e is not engine and runs(ops, e))
    for e in run_on(engine):
        e.require_ops(ops, what, fix, *options, others=others if e is engine else (), checker=e is not engine)


def require_style(style: dict[str, str], engine: Engine) -> None:
    """A PhiNet attention or activation that converts to an op a run on `engine` cannot take, refused by its knob
    before anything is built (`core.style_ops`)."""
    for knob, value in style.items():
        fine = [v for v, ops in STYLE_OPS[knob].items() if runs(ops, engine)]
        require_ops(STYLE_OPS[knob][value], engine, f"{knob} {value}", f"another {knob} ({', '.join(fine)})", knob)


def get_engine(engine: "str | Engine | None") -> Engine:
    """The engine named (an Engine is returned as it is; None: `DEFAULT`), or one line naming the engines. A
    command that builds a model picks its engine with `default_engine` instead, which falls back where the default
    cannot run it."""
    if engine is None:
        return DEFAULT
    if isinstance(engine, Engine):
        return engine
    if engine not in ENGINES:
        raise UserError(f"engine '{engine}' is unknown: choose {' or '.join(ENGINES)}", "engine")
    return ENGINES[engine]
