"""The C engine against LiteRT's reference kernels, one op at a time: a small random-weight Keras graph per op
(strides, paddings, dilations, per-channel quantization), converted to int8 as `fit` converts, compiled to C,
built for the host with CMSIS-NN's portable C and run on 100 random inputs. Every output must be equal."""

import numpy as np
import pytest

from tinyml_kit.core.errors import UserError
from tinyml_kit.core.litert import LiteRtModel
from tinyml_kit.core.tflite_info import read_graph, read_model

IMAGES = 100


def _keras():
    from tinyml_kit._tf import tf

    return tf().keras


def int8_model(build, shape=(12, 12, 4), seed=0) -> bytes:
    """`build(keras, inputs) -> outputs` as an int8 flatbuffer, weights random and calibrated on random pixels."""
    from tinyml_kit.compress.quantize import calibration_images, quantize_int8

    keras = _keras()
    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape)
    x = keras.layers.Rescaling(1 / 64.0, offset=-2.0)(inputs)   # pixels 0..255 to about -2..2
    model = keras.Model(inputs, build(keras, x))
    rng = np.random.default_rng(seed)
    return quantize_int8(model, calibration_images(rng.integers(0, 256, (32, *shape), dtype=np.uint8)))


def run_c(flatbuffer: bytes, images: np.ndarray, tmp_path, **compile_options) -> np.ndarray:
    from tinyml_kit.check.c_host import HostModel, build_host_library
    from tinyml_kit.engine.codegen import compile_model
    from tinyml_kit.export.toolchain import find_cmsis_nn_dir

    program = compile_model(flatbuffer, **compile_options)
    classes = program.model.tensors[program.model.output].elements
    program.write(tmp_path, [f"c{i}" for i in range(classes)])
    return HostModel(build_host_library(tmp_path, find_cmsis_nn_dir(), tmp_path / "model.so")).predict(images)


def bit_exact_on_the_m4(flatbuffer: bytes, engines=("c",), seed: int = 2, count: int = 3, board=None) -> list:
    """One small firmware per engine under QEMU on the emulated Cortex-M4F of `board` (the NUCLEO-L4R5ZI unless
    given; TFLM with CMSIS-NN kernels), each equal to LiteRT's reference kernels on `count` random images; their
    verify results."""
    from tinyml_kit.check.tflm import measure_arena
    from tinyml_kit.check.verify import verify_model
    from tinyml_kit.core.boards import get_board
    from tinyml_kit.export.firmware import ModelSource
    from tinyml_kit.solve.engines import get_engine

    info, arena = read_model(flatbuffer), measure_arena(flatbuffer)
    images = np.random.default_rng(seed).integers(-128, 128, (count, *info.inputs[0].shape[1:]), dtype=np.int8)
    classes = [str(i) for i in range(info.outputs[0].sample_size)]
    results = []
    for engine in map(get_engine, engines):
        src = ModelSource(flatbuffer, info, classes, arena.total_bytes, arena.alloc_bytes, engine=engine)
        v = verify_model(src, images, board or get_board("nucleo-l4r5zi"), kernels="cmsis_nn", engine=engine)
        assert v.core == "m4" and v.bit_exact and v.images == count, (engine.name, v.max_abs_diff)
        results.append(v)
    return results


def assert_bit_exact(flatbuffer: bytes, op: str, tmp_path, **compile_options) -> None:
    info = read_model(flatbuffer)
    assert op in info.ops, f"the graph has {info.ops}, not {op}: the test would not exercise it"
    rng = np.random.default_rng(1)
    images = rng.integers(-128, 128, (IMAGES, *info.inputs[0].shape[1:]), dtype=np.int8)
    expected = LiteRtModel(flatbuffer).predict(images)
    got = run_c(flatbuffer, images, tmp_path, **compile_options)
    assert np.array_equal(got, expected), f"max diff {np.abs(got.astype(int) - expected).max()}"
    assert len(np.unique(expected)) > 3, "outputs barely vary: the comparison would prove little"


CONVS = {
    "3x3_same": dict(kernel_size=3, padding="same"),
    "3x3_valid_stride2": dict(kernel_size=3, strides=2, padding="valid"),
    "5x5_same_stride2": dict(kernel_size=5, strides=2, padding="same"),
    "1x1": dict(kernel_size=1),
    "1x1_stride2": dict(kernel_size=1, strides=2),
    "1x3": dict(kernel_size=(1, 3), padding="same"),
    "relu6": dict(kernel_size=3, padding="same", activation="relu6"),
}


@pytest.mark.parametrize("name", CONVS)
def test_conv_2d(name, tmp_path):
    fb = int8_model(lambda k, x: k.layers.Conv2D(8, **CONVS[name])(x))
    assert_bit_exact(fb, "CONV_2D", tmp_path)


def with_dilation(flatbuffer: bytes, factor: int) -> bytes:
    """The converter turns a Keras dilation into SPACE_TO_BATCH_ND around the op; a TFLite op can carry the dilation
    itself (other producers emit it), so the test writes it into the options of a SAME convolution."""
    import flatbuffers

    from tinyml_kit.core.tflite_info import schema

    s = schema()
    model = s.ModelT.InitFromObj(s.Model.GetRootAsModel(flatbuffer, 0))
    for op in model.subgraphs[0].operators:
        if hasattr(op.builtinOptions, "dilationHFactor"):
            op.builtinOptions.dilationHFactor = op.builtinOptions.dilationWFactor = factor
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


@pytest.mark.parametrize("layer", ["Conv2D", "DepthwiseConv2D"])
def test_dilation(layer, tmp_path):
    args = dict(filters=8) if layer == "Conv2D" else {}
    fb = with_dilation(int8_model(lambda k, x: getattr(k.layers, layer)(kernel_size=3, padding="same", **args)(x)), 2)
    assert_bit_exact(fb, "CONV_2D" if layer == "Conv2D" else "DEPTHWISE_CONV_2D", tmp_path)


DEPTHWISE = {
    "3x3_same": dict(kernel_size=3, padding="same"),
    "3x3_stride2": dict(kernel_size=3, strides=2, padding="same"),
    "5x5_same": dict(kernel_size=5, padding="same"),             # CMSIS-NN's optimized path, with scratch
    "3x3_valid": dict(kernel_size=3, padding="valid"),
    "multiplier2": dict(kernel_size=3, padding="same", depth_multiplier=2),
    "relu": dict(kernel_size=3, padding="same", activation="relu"),
}


@pytest.mark.parametrize("name", DEPTHWISE)
def test_depthwise_conv_2d(name, tmp_path):
    fb = int8_model(lambda k, x: k.layers.DepthwiseConv2D(**DEPTHWISE[name])(x))
    assert_bit_exact(fb, "DEPTHWISE_CONV_2D", tmp_path)


def test_fully_connected_after_reshape(tmp_path):
    fb = int8_model(lambda k, x: k.layers.Dense(10)(k.layers.Flatten()(x)), shape=(6, 6, 2))
    assert_bit_exact(fb, "FULLY_CONNECTED", tmp_path)
    assert "RESHAPE" in read_model(fb).ops


def test_fully_connected_rounds_once_as_litert(tmp_path):
    """LiteRT rescales a per-channel dense layer's sums with one rounding, not the convolutions' two: on 2,000
    random inputs of this layer 19 outputs lie where the two differ by one."""
    fb = int8_model(lambda k, x: k.layers.Dense(10)(k.layers.Flatten()(x)), shape=(2, 2, 4))
    images = np.random.default_rng(0).integers(-128, 128, (2000, 2, 2, 4), dtype=np.int8)
    expected = LiteRtModel(fb).predict(images)
    got = run_c(fb, images, tmp_path)
    assert np.array_equal(got, expected), f"{np.count_nonzero(got != expected)} outputs differ"


def test_add_of_two_branches(tmp_path):
    from tinyml_kit.engine.codegen import compile_model
    from tinyml_kit.solve.c_size import c_engine_costs

    fb = int8_model(lambda k, x: k.layers.Add()([k.layers.Conv2D(4, 1)(x), k.layers.Conv2D(4, 3, padding="same")(x)]))
    assert_bit_exact(fb, "ADD", tmp_path)
    program = compile_model(fb)
    # the solver's flash estimate counts the ADD's two int32 tables as the code generator stores them
    assert c_engine_costs(read_graph(fb, "add")).constant_bytes == program.constant_bytes
    add = next(s for s in program.steps if s.kind == "ADD")   # written over a branch that dies at it
    assert program.plan.offset_of(add.output) in {program.plan.offset_of(t) for t in add.inputs}


def _add_of_every_pair(lo: float, hi: float, relu: bool, vector: bool) -> bytes:
    """One ADD of the input (pixels: scale 1) and a constant of another scale holding 256 values one step apart:
    row r of the input holds pixel r in every column, the constant value c in column c (a per-channel `vector`, or
    a full tensor), so the op sees all 65,536 (a, b) pairs."""
    from tinyml_kit._tf import tf
    from tinyml_kit.compress.quantize import quantize_int8

    keras = _keras()
    shape = (256, 1, 256) if vector else (256, 256, 1)
    inputs = keras.Input(shape)
    values = np.linspace(lo, hi, 256, dtype=np.float32)
    y = inputs + tf().constant(values.reshape(1, 1, 1, 256) if vector else
                               np.broadcast_to(values[None, None, :, None], (1, *shape)))
    model = keras.Model(inputs, tf().nn.relu(y) if relu else y)
    return quantize_int8(model, np.broadcast_to(np.arange(256, dtype=np.float32)[None, :, None, None], (2, *shape)))


@pytest.mark.parametrize("lo, hi, relu, vector", [(-40.0, 60.0, False, False), (-680.0, 340.0, True, True)])
def test_add_equals_litert_on_every_pair_of_int8_inputs(lo, hi, relu, vector, tmp_path):
    """The ADD tables and their one requantization against LiteRT's reference ADD, exhaustively, for equal shapes
    and for a per-channel vector (each range puts zero on a quantization step)."""
    from tinyml_kit.engine.codegen import compile_model
    from tinyml_kit.engine.model_ir import read_int8_model

    fb = _add_of_every_pair(lo, hi, relu, vector)
    model = read_int8_model(fb, "add")
    assert [op.kind for op in model.ops] == ["ADD"]
    constant = next(t for t in model.tensors if t.is_constant).data.reshape(-1, 256)
    assert sorted(constant[0]) == list(range(-128, 128)) and (constant == constant[0]).all(), "pairs are missed"
    assert [a.ctype for a in compile_model(fb).arrays] == ["int8_t", "int32_t", "int32_t"]
    rows = np.broadcast_to(np.arange(-128, 128, dtype=np.int8)[:, None, None], model.tensors[model.input].shape)
    expected = LiteRtModel(fb).predict(rows)
    assert np.array_equal(run_c(fb, rows, tmp_path), expected)
    assert len(np.unique(expected)) > 100


def test_add_of_a_per_channel_vector(tmp_path):
    """Squeeze-excitation's shape with ADD: (H, W, C) plus a (1, 1, C) activation."""
    def build(k, x):
        s = k.layers.GlobalAveragePooling2D(keepdims=True)(x)
        return k.layers.Add()([x, k.layers.Conv2D(4, 1, activation="tanh")(s)])

    assert_bit_exact(int8_model(build), "ADD", tmp_path)


def test_mul_by_a_per_channel_vector(tmp_path):
    """Squeeze-excitation's scale: (H, W, C) times (1, 1, C)."""
    def build(k, x):
        s = k.layers.GlobalAveragePooling2D(keepdims=True)(x)
        return k.layers.Multiply()([x, k.layers.Conv2D(4, 1, activation="sigmoid")(s)])

    assert_bit_exact(int8_model(build), "MUL", tmp_path)


def test_mul_of_equal_shapes(tmp_path):
    fb = int8_model(lambda k, x: k.layers.Multiply()([k.layers.Conv2D(4, 1)(x),
                                                     k.layers.Conv2D(4, 3, padding="same")(x)]))
    assert_bit_exact(fb, "MUL", tmp_path)


def test_mean_over_height_and_width(tmp_path):
    fb = int8_model(lambda k, x: k.layers.GlobalAveragePooling2D()(k.layers.Conv2D(8, 3)(x)))
    assert_bit_exact(fb, "MEAN", tmp_path)


@pytest.mark.parametrize("pool", ["average", "max"])
def test_pooling(pool, tmp_path):
    layer = "AveragePooling2D" if pool == "average" else "MaxPooling2D"
    fb = int8_model(lambda k, x: getattr(k.layers, layer)(3, strides=2, padding="same")(k.layers.Conv2D(4, 1)(x)))
    assert_bit_exact(fb, "AVERAGE_POOL_2D" if pool == "average" else "MAX_POOL_2D", tmp_path)


def test_pad(tmp_path):
    fb = int8_model(lambda k, x: k.layers.Conv2D(4, 3)(k.layers.ZeroPadding2D(((1, 2), (0, 1)))(x)))
    assert_bit_exact(fb, "PAD", tmp_path)


ACTIVATIONS = {"HARD_SWISH": lambda k, x: x * k.layers.ReLU(6.0)(x + 3.0) / 6.0, "LOGISTIC": "sigmoid",
               "TANH": "tanh", "RELU": "relu", "LEAKY_RELU": lambda k, x: k.layers.LeakyReLU(0.2)(x)}


@pytest.mark.parametrize("op", ACTIVATIONS)
def test_lookup_table_activation(op, tmp_path):
    act = ACTIVATIONS[op]

    def build(k, x):
        # after an op that cannot fuse it: the converter folds RELU into ADD, not into MEAN
        y = k.layers.Conv2D(4, 3, padding="same")(x)
        y = k.layers.GlobalAveragePooling2D(keepdims=True)(y) if op == "RELU" else k.layers.Add()([y, x * 0.5 + y])
        return act(k, y) if callable(act) else k.layers.Activation(act)(y)

    assert_bit_exact(int8_model(build), op, tmp_path)


def test_an_op_the_engine_lacks_is_named(tmp_path):
    from test_cli import assert_one_line_error, run

    from tinyml_kit._tf import tf
    from tinyml_kit.engine.codegen import compile_model

    fb = int8_model(lambda k, x: tf().reduce_min(k.layers.Conv2D(4, 3)(x), axis=[1, 2]), shape=(4, 4, 1))
    with pytest.raises(UserError, match=r"REDUCE_MIN \(op 1\), which the C engine does not run: use engine=tflm"):
        compile_model(fb)
    (tmp_path / "reduce_min.tflite").write_bytes(fb)
    assert_one_line_error(run("export", tmp_path / "reduce_min.tflite", "--engine", "c", "--out", tmp_path / "out"),
                          "REDUCE_MIN (op 1)", "--engine tflm")
    assert not (tmp_path / "out").exists()


def test_a_float_model_is_refused(float_tflite):
    from tinyml_kit.engine.codegen import compile_model

    with pytest.raises(UserError, match="not int8"):
        compile_model(float_tflite.read_bytes())


def test_a_missing_or_computed_input_is_named_by_op_and_slot():
    from tinyml_kit.engine.model_ir import Model, Operator, Tensor

    def activation(index: int) -> Tensor:
        return Tensor(index, f"t{index}", (1, 4, 4, 2), "int8", np.ones(1, np.float32), np.zeros(1, np.int64))

    op = Operator(3, "PAD", (0, 1, -1), (2,))
    model = Model("m", [activation(0), activation(1), activation(2)], [op], 0, 2)
    assert model.optional_tensor(op, 2) is None and model.tensor(op, 0, outputs=True).index == 2
    with pytest.raises(UserError, match=r"PAD \(op 3\) has no input 2: the model is malformed"):
        model.tensor(op, 2)
    with pytest.raises(UserError, match=r"PAD \(op 3\) computes its input 1 at run time"):
        model.constant(op, 1)


def test_export_of_a_float_model_with_the_c_engine_is_one_line(float_tflite, tmp_path):
    from test_cli import assert_one_line_error, run

    assert_one_line_error(run("export", float_tflite, "--engine", "c", "--out", tmp_path / "out"), "not int8")
    assert not (tmp_path / "out").exists()


def _chain(k, x, layers):
    for layer in layers:
        x = layer(k)(x)
    return x


OVERLAP_CHAINS = {   # the largest tensors meet at the named kind, so writing over the input lowers the peak
    "CONV_2D": [lambda k: k.layers.Conv2D(16, 3, padding="same", activation="relu"),
                lambda k: k.layers.Conv2D(16, 3, padding="same", activation="relu"),
                lambda k: k.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu"),
                lambda k: k.layers.Conv2D(16, 1, strides=2, activation="relu"),
                lambda k: k.layers.Conv2D(8, 3, padding="same")],
    "DEPTHWISE_CONV_2D": [lambda k: k.layers.Conv2D(32, 1, activation="relu"),
                          lambda k: k.layers.DepthwiseConv2D(3, padding="same", activation="relu"),
                          lambda k: k.layers.DepthwiseConv2D(5, padding="same", activation="relu"),
                          lambda k: k.layers.DepthwiseConv2D(3, strides=2, padding="same", activation="relu"),
                          lambda k: k.layers.Conv2D(8, 1)],
}


@pytest.mark.parametrize("kind", OVERLAP_CHAINS)
def test_convolutions_written_over_their_dying_inputs(kind, tmp_path):
    """Chains whose inputs die at each convolution: the plan starts outputs inside their inputs' bytes (3x3 unit
    stride, 3x3 stride 2, strided 1x1; depthwise 3x3, 5x5, stride 2), and the outputs still equal LiteRT's."""
    from tinyml_kit.engine.codegen import compile_model

    fb = int8_model(lambda k, x: _chain(k, x, OVERLAP_CHAINS[kind]), shape=(32, 32, 3))
    program = compile_model(fb)
    over = {program.steps[i].kind for b in program.plan.buffers for i, step in enumerate(program.steps)
            if step.output in b.tensors and step.inputs[0] in b.tensors
            and b.within[step.output] != b.within[step.inputs[0]]}
    assert kind in over, f"no {kind} output was placed over its input ({over}): the test would not exercise it"
    assert_bit_exact(fb, kind, tmp_path)


def test_add_and_mul_by_a_constant_per_channel_vector(tmp_path):
    """A learned per-channel offset and scale (constant tensors, not activations): read from flash."""
    def build(k, x):
        from tinyml_kit._tf import tf

        y = k.layers.Conv2D(4, 3, padding="same", activation="relu")(x)
        y = y * tf().constant([0.5, -1.0, 2.0, 1.5])
        return y + tf().constant([0.25, -0.5, 1.0, 0.0])

    from tinyml_kit.engine.codegen import compile_model

    fb = int8_model(build)
    from_flash = {s.kind for s in compile_model(fb).steps if any(a.name.startswith("k") for a in s.arrays)}
    assert from_flash == {"MUL", "ADD"}, f"constant operands read from flash by {from_flash}"
    assert_bit_exact(fb, "MUL", tmp_path)


def _squeeze_excite_residual_head(k, x):
    """Branches (squeeze-excitation, a residual ADD), convolutions over dying inputs, scratch, and a RESHAPE."""
    y = k.layers.Conv2D(8, 3, padding="same", activation="relu")(x)
    s = k.layers.GlobalAveragePooling2D(keepdims=True)(y)
    y = k.layers.Multiply()([y, k.layers.Conv2D(8, 1, activation="sigmoid")(s)])
    y = k.layers.Add()([y, k.layers.Conv2D(8, 1)(x)])
    y = k.layers.DepthwiseConv2D(5, padding="same")(y)
    return k.layers.Dense(4)(k.layers.Flatten()(y))


def _may_share(a, b, program, plan) -> bool:
    """Two buffers alive at a common step may share bytes only where the plan lets them: a RESHAPE's output is its
    input's bytes, and an op writes its output over an input that dies at that op."""
    if a.alias_of == b.name or b.alias_of == a.name or (a.alias_of and a.alias_of == b.alias_of):
        return True
    dying, born = (a, b) if a.last_op <= b.first_op else (b, a)
    if dying.kind != "tensor" or born.kind != "tensor" or dying.last_op != born.first_op:
        return False
    step = program.steps[plan.execution_order[born.first_op]]
    index = {f"tensor_{t}": t for t in range(len(program.model.tensors))}
    return index[dying.name] in step.inputs and index[born.name] == step.output


def _assert_bounds_checked_at_compile_time(source_dir, plan) -> None:
    """The generated C compiles as it is, and not against an arena one alignment step smaller than the plan."""
    import subprocess

    from tinyml_kit.export.toolchain import C_ENGINE_WARNINGS, find_cmsis_nn_dir

    header = source_dir / "tinyml_model.h"
    command = ["gcc", *C_ENGINE_WARNINGS, "-fsyntax-only", "-I", str(source_dir), "-isystem",
                str(find_cmsis_nn_dir() / "Include"), str(source_dir / "tinyml_model.c")]
    subprocess.run(command, check=True, capture_output=True)
    planned = f"#define TINYML_ARENA_PLANNED_BYTES {plan.arena_bytes}\n"
    header.write_text(header.read_text().replace(planned, planned.replace(str(plan.arena_bytes),
                                                                          str(plan.arena_bytes - 4))))
    refused = subprocess.run(command, capture_output=True, text=True)
    assert refused.returncode != 0 and "lies outside the arena" in refused.stderr, refused.stderr


def test_plan_json_keeps_live_buffers_apart_inside_the_arena(tmp_path):
    """plan.json, written beside the sources: versioned, its buffers end exactly at the arena's size, and no two
    buffers alive at the same step share bytes unless the plan lets them; every arena name the C uses is
    `#define`d from it with a compile-time bound check; `analyze --engine c` shows the same plan."""
    import json
    import re
    from itertools import combinations

    from test_cli import run

    from tinyml_kit.engine.codegen import compile_model
    from tinyml_kit.engine.memory_map import SCHEMA_VERSION, MemoryMap

    fb = int8_model(_squeeze_excite_residual_head, shape=(8, 8, 3))
    program = compile_model(fb, "se.tflite")
    assert tmp_path / "plan.json" in program.write(tmp_path, ["a", "b", "c", "d"])
    data = json.loads((tmp_path / "plan.json").read_text())
    plan = MemoryMap.read(tmp_path / "plan.json")
    assert data["schema_version"] == SCHEMA_VERSION and plan.arena_bytes == program.arena_bytes
    assert max(b.end for b in plan.buffers) == plan.arena_bytes
    assert {b.kind for b in plan.buffers} == {"tensor", "scratch"} and any(b.alias_of for b in plan.buffers)
    shared = 0
    for a, b in combinations(plan.buffers, 2):
        if a.end > b.offset and b.end > a.offset and a.first_op <= b.last_op and b.first_op <= a.last_op:
            assert _may_share(a, b, program, plan), f"{a} and {b} share bytes while both are alive"
            shared += 1
    assert shared, "no buffer shares bytes with another: the check would prove little"
    c = (tmp_path / "tinyml_model.c").read_text()
    used = set(re.findall(r"\b(?:tensor|scratch|shifts)_\d+\b", c.split("/* ---- constants")[1]))
    defined = dict(re.findall(r"#define (\w+) \(tinyml_arena \+ (\d+)\)", c))
    assert used <= set(defined) and defined == {b.name: str(b.offset) for b in plan.buffers}
    assert c.count("_Static_assert(") == len(plan.buffers)
    _assert_bounds_checked_at_compile_time(tmp_path, plan)
    (tmp_path / "se.tflite").write_bytes(fb)
    shown = run("analyze", tmp_path / "se.tflite", "--engine", "c", "--json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["c_engine"]["plan"] == data
    with pytest.raises(UserError, match="schema version 99"):
        MemoryMap.from_dict({**data, "schema_version": 99})


@pytest.fixture(scope="module")
def int16_tflite(tmp_path_factory, tiny_model):
    """The tiny model quantized with 16-bit activations (int16 inputs and outputs, int8 weights)."""
    from tinyml_kit._tf import tf

    model, _ = tiny_model
    converter = tf().lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf().lite.Optimize.DEFAULT]
    rng = np.random.default_rng(0)
    converter.representative_dataset = lambda: ([rng.uniform(0, 255, (1, 16, 16, 1)).astype(np.float32)]
                                                for _ in range(8))
    converter.target_spec.supported_ops = [tf().lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf().int16
    path = tmp_path_factory.mktemp("int16") / "int16.tflite"
    path.write_bytes(converter.convert())
    return path


def test_export_of_an_int16_model_says_it_is_int16(int16_tflite, tmp_path):
    """Quantized already, to 16-bit activations: not "quantize it first"."""
    from test_cli import assert_one_line_error, run

    assert_one_line_error(run("export", int16_tflite, "--engine", "c", "--out", tmp_path / "out"),
                          "is quantized to int16 activations", "the C engine", "int8 only")
    assert not (tmp_path / "out").exists()


def test_a_bad_cmsis_nn_dir_from_the_environment_names_the_variable(tiny_model, tmp_path, monkeypatch):
    from test_cli import assert_one_line_error, run

    monkeypatch.setenv("TINYML_CMSIS_NN_DIR", str(tmp_path / "nonexistent"))
    result = run("export", tiny_model[1], "--engine", "c", "--target", "arduino", "--out", tmp_path / "out")
    assert_one_line_error(result, "named by the environment variable TINYML_CMSIS_NN_DIR", "set TINYML_CMSIS_NN_DIR")
    assert "--cmsis-nn-dir" not in result.stderr and not (tmp_path / "out").exists()
    result = run("export", tiny_model[1], "--engine", "c", "--target", "arduino", "--out", tmp_path / "out",
                 "--cmsis-nn-dir", tmp_path)   # given as an option: the option is named
    assert_one_line_error(result, "is not a CMSIS-NN directory", "(--cmsis-nn-dir)")


@pytest.mark.slow
def test_a_c_engine_fit_carries_its_own_sources_and_host_check(tmp_path, digits_npz):
    """`fit --engine c`: the run keeps the C engine's generated model (not TFLM's model data), its build for this
    machine is run beside LiteRT, and the last line and report.json say so."""
    import json

    from test_cli import run

    from tinyml_kit.core.run_record import RunRecord
    from tinyml_kit.pipeline.outcome import fit_summary

    out = tmp_path / "run"
    # the model pinned (the search is not what this checks): one small TinyNet is measured, trained and built
    result = run("fit", "--data", digits_npz, "--input", "16,16,1", "--epochs", "1", "--engine", "c",
                 "--board", "nucleo-f401re", "--arch", "tinynet", "--alpha", "0.25", "--depth", "2", "--out", out,
                 "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    names = {p.name for p in out.iterdir()}
    assert {"tinyml_model.c", "tinyml_model.h"} <= names and "model_data.cc" not in names
    assert record["engine"] == "c" and record["check"]["c_equals_litert"] is True
    assert record["check"]["c_images"] == record["data"]["val_images"] and record["check"]["tflm"]["flash_bytes"]
    summary = fit_summary(RunRecord.read(out))   # the last line `fit` prints
    assert "the C engine's static plan" in summary and summary.endswith(
        f"LiteRT == the C engine built for this machine: True ({record['check']['c_images']} images)")
