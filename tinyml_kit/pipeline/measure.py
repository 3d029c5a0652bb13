"""Measuring a built model as its engine runs it: converted to int8, its flash and arena as the firmware would
hold them, and its latency predicted from the converted graph. Every claim of fitting comes from here."""

import numpy as np

from tinyml_kit.check.engines import measured_footprint
from tinyml_kit.compress.quantize import quantize_int8
from tinyml_kit.core.boards import Board
from tinyml_kit.core.budget import Budget, model_ram_bytes
from tinyml_kit.core.cores import kernel_family
from tinyml_kit.core.tflite_info import read_graph
from tinyml_kit.core.verification import Measurement
from tinyml_kit.nets import build
from tinyml_kit.nets.costs import model_costs
from tinyml_kit.solve.engines import DEFAULT, Engine, get_engine


def measure(arch: str, knobs: dict, input_shape, classes: int, calibration, budget: Budget,
            engine: Engine | str = DEFAULT, board: Board | None = None) -> Measurement:
    """Convert an untrained model to int8 and measure it (`measure_model`). Sizes depend on the weights only
    through constants the converter de-duplicates, so batch-norm statistics are randomised to look trained
    (measured: within 200 B of the trained model's file on the default fit)."""
    model = build(arch, input_shape, classes, **knobs)
    look_trained(model)
    return measure_model(model, arch, knobs, calibration, budget, engine, board)


def measure_model(model, arch: str, knobs: dict, calibration, budget: Budget, engine: Engine | str = DEFAULT,
                  board: Board | None = None, converted=None) -> Measurement:
    """Measure `model`'s int8 flatbuffer as the engine runs it (TFLM: the compact flatbuffer and its measured
    arena; the C engine: its generated model and static arena), and predict its instructions and cycles on
    `board` from the converted graph. `converted`: the model the int8 one is converted from when it is not
    `model` itself (its QAT version); MACs are `model`'s. `model` is not changed."""
    costs, engine = model_costs(model), get_engine(engine)
    flatbuffer = quantize_int8(model if converted is None else converted, calibration)
    latency = model_latency(flatbuffer, costs.macs, board, engine, model_ram_bytes(board, budget)) \
        if board is not None else None
    fp = measured_footprint(flatbuffer, engine, kernel_family(board.core if board else None))
    cycles = latency.cycles if latency else None
    fits = budget.verdict(fp.flash_bytes, fp.arena_alloc_bytes, costs.macs, cycles).ok
    return Measurement(arch, knobs, costs.params, costs.macs, fp.flash_bytes, fp.arena_bytes, fp.arena_alloc_bytes,
                       fits, latency.instructions if latency else None, cycles)


def model_latency(flatbuffer: bytes, macs: int, board: Board, engine: Engine | str = DEFAULT,
                  ram_bytes: int | None = None):
    """The latency estimate of a converted model on `board`, from its graph (the engine's per-op cycle model,
    `solve.instructions`), for `ram_bytes` of model RAM (default the board's: where the C engine's weights go)."""
    return get_engine(engine).latency(read_graph(flatbuffer), macs, board, ram_bytes=ram_bytes)


def look_trained(model, seed: int = 0) -> None:
    """Give batch-norm layers trained-looking statistics and biases non-zero values. Untrained ones fold to
    all-zero biases, which the converter stores once and shares under other names, so an untrained model
    measures ~3 % smaller than the trained one."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if type(layer).__name__ == "BatchNormalization":
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.5, beta.shape),
                               rng.normal(0, 0.5, mean.shape), rng.uniform(0.5, 2.0, var.shape)])
        elif getattr(layer, "use_bias", False) and getattr(layer, "bias", None) is not None:
            layer.bias.assign(rng.normal(0, 0.3, layer.bias.shape))
