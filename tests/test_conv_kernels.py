"""The generated CONV_2D kernels (`engine.conv_gen`) against LiteRT's reference kernels on the host: small chains
of convolutions covering each shape class the generator distinguishes — kernel 1/3/5 and non-square, stride 1/2,
SAME (even and odd inputs) and VALID padding, 3 input channels and counts off a multiple of 4, odd and even
output channels and widths, with and without bias, RELU/RELU6/none — plus the layout arithmetic they share
with the static plan and the flash estimate."""

import numpy as np
import pytest

from tests.test_c_engine import assert_bit_exact, bit_exact_on_the_m4, int8_model
from tinyml_kit.core.cores import KernelFamily
from tinyml_kit.core.tflite_info import read_graph
from tinyml_kit.engine.conv_gen import reordered_weights
from tinyml_kit.solve.c_size import model_kernels
from tinyml_kit.solve.conv_layout import ConvLayout, ram_weight_layers, weight_ram_budget
from tinyml_kit.solve.weight_placement import graph_ram_weight_ops

CHAINS = {
    # input shape, then (filters, kernel, strides, padding, activation, bias) per layer
    "first_layer_c3_odd_width": ((9, 11, 3), [(16, 3, 1, "same", "relu", True), (6, 5, 2, "same", "relu6", True),
                                              (5, 1, 1, "valid", None, True)]),
    "odd_channels_valid_stride2": ((10, 10, 5), [(7, 3, 2, "valid", "relu", True), (3, 3, 1, "same", None, False),
                                                 (9, 1, 2, "valid", "relu", True)]),
    "even_input_same_stride2": ((8, 8, 8), [(12, 3, 2, "same", None, True), (4, (1, 3), 1, "same", "relu", True),
                                            (1, (3, 1), 1, "valid", None, True)]),
}


def _chain(layers):
    def build(k, x):
        for filters, kernel, strides, padding, activation, bias in layers:
            x = k.layers.Conv2D(filters, kernel, strides=strides, padding=padding, activation=activation,
                                use_bias=bias)(x)
        return x
    return build


@pytest.mark.parametrize("name", CHAINS)
def test_generated_convolutions_equal_litert(name, tmp_path):
    shape, layers = CHAINS[name]
    assert_bit_exact(int8_model(_chain(layers), shape=shape), "CONV_2D", tmp_path)


def test_weights_in_ram_equal_litert_in_portable_c(tmp_path):
    """The int16 weight stream's C rows (the host's, and every tail's on the DSP cores), 1 MB of RAM given."""
    shape, layers = CHAINS["first_layer_c3_odd_width"]
    assert_bit_exact(int8_model(_chain(layers), shape=shape), "CONV_2D", tmp_path, ram_bytes=2**20)


def test_layers_of_one_layout_share_a_function(tmp_path):
    """Three 1x1 convolutions of one layout whose offsets and activations differ run one function (each call
    passing the layer's constants and values), bit-exact."""
    import re

    from tinyml_kit.engine.codegen import compile_model

    layers = [(8, 3, 1, "same", "relu", True), (8, 1, 1, "same", None, True), (8, 1, 1, "same", "relu6", True),
              (8, 1, 1, "same", "relu", True)]
    fb = int8_model(_chain(layers), shape=(6, 7, 5))
    functions = compile_model(fb, allowance=1.0).functions
    assert len([f for f in functions if re.fullmatch(r"tinyml_conv_\d+", f.name)]) == 2
    assert_bit_exact(fb, "CONV_2D", tmp_path, allowance=1.0)


def test_layers_share_a_function_with_the_layers_whose_weights_are_where_theirs_are(tmp_path):
    """Three 1x1 convolutions of one layout, RAM for two of them: those two share a function reading the int16
    stream (their RAM copies passed), the third runs its own on its int8 weights in flash, bit-exact."""
    import re

    from tinyml_kit.engine.codegen import compile_model

    fb = int8_model(_chain([(8, 1, 1, "valid", "relu", True), (8, 1, 1, "valid", None, True),
                            (8, 1, 1, "valid", "relu6", True)]), shape=(6, 7, 8))
    copy = ConvLayout((6, 7, 8), (6, 7, 8), (1, 1), (1, 1), (0, 0)).ram_copy_bytes
    ram_bytes = compile_model(fb, allowance=1.0).arena_bytes + 2 * 2 * copy   # half of what the arena leaves
    program = compile_model(fb, ram_bytes=ram_bytes, allowance=1.0)
    assert program.ram_constant_bytes == 2 * copy
    # the latency estimate places them by the same decision, from the graph alone
    graph = read_graph(fb)
    in_ram = {s.op_index for s in program.steps if s.kernel is not None and s.kernel.weights_in_ram}
    assert len(in_ram) == 2
    assert graph_ram_weight_ops(graph, KernelFamily.DSP, model_kernels(graph, KernelFamily.DSP, 1.0),
                                ram_bytes) == in_ram
    functions = {f.name: f.definition for f in program.functions if re.fullmatch(r"tinyml_conv_\d+", f.name)}
    assert set(functions) == {"tinyml_conv_0", "tinyml_conv_2"}
    assert "const int16_t* w," in functions["tinyml_conv_0"] and "w2 +" in functions["tinyml_conv_2"]
    assert_bit_exact(fb, "CONV_2D", tmp_path, ram_bytes=ram_bytes, allowance=1.0)


def test_weights_are_padded_per_kernel_row_and_reordered_per_word():
    layout = ConvLayout((5, 5, 3), (5, 5, 2), (3, 3), (1, 1), (1, 1))
    weights = np.arange(2 * 3 * 3 * 3, dtype=np.int8).reshape(2, 3, 3, 3)
    got = reordered_weights(weights, layout).reshape(2, 3, 12)
    assert layout.weight_bytes == got.size == 2 * 3 * 12
    assert list(got[1, 2]) == [45, 47, 46, 48, 49, 51, 50, 52, 53, 0, 0, 0]


def test_generated_kernels_are_bit_exact_on_the_cortex_m4():
    """The DSP paths under QEMU in one firmware: the convolutions' inline assembly, LDRD and LDR windows, channel
    and pixel tails, two layers sharing a function; the depthwise SXTB16/SMLABB lanes, inline-assembly
    requantization and shared edge function over a tail of 3 channels, stride 1 and 2, relu6; the convolutions'
    weights widened into the board's RAM (one int16 stream per channel pair, LDM)."""
    def build(k, x):
        x = _chain([(8, 3, 1, "same", "relu", True), (7, 3, 2, "same", "relu6", True),
                    (7, 1, 1, "valid", None, False), (7, 1, 1, "valid", "relu", False)])(k, x)
        x = k.layers.DepthwiseConv2D(3, padding="same", activation="relu6")(x)
        return k.layers.DepthwiseConv2D(3, strides=2, padding="same")(x)

    results = bit_exact_on_the_m4(int8_model(build, shape=(9, 11, 3)), count=4)
    assert results[0].ram_constant_bytes > 0   # the board's RAM to spare took the weights, widened


def test_weights_in_ram_are_one_stream_per_channel_pair():
    layout = ConvLayout((5, 5, 3), (5, 5, 3), (3, 3), (1, 1), (1, 1), weights_in_ram=True)
    weights = np.arange(3 * 3 * 3 * 3, dtype=np.int8).reshape(3, 3, 3, 3)
    got = reordered_weights(weights, layout)
    assert layout.ram_bytes == 2 * got.size + 9 * 3 == 2 * 3 * 3 * 12 + 9 * 3
    # channels 0 and 1, kernel row 0: word 0 of each, then word 1 of each, ...; channel 2 alone at the end
    assert list(got[:16]) == [0, 1, 2, 3, 27, 28, 29, 30, 4, 5, 6, 7, 31, 32, 33, 34]
    assert list(got[72:84]) == [54, 55, 56, 57, 58, 59, 60, 61, 62, 0, 0, 0]


def test_ram_takes_the_weights_used_most_per_byte_within_the_budget():
    big = ConvLayout((16, 16, 8), (16, 16, 8), (3, 3), (1, 1), (1, 1))        # 256 pixels per weight
    small = ConvLayout((16, 16, 8), (8, 8, 8), (3, 3), (2, 2), (0, 0))       # 64
    assert weight_ram_budget(1000, 1200) == 0 and weight_ram_budget(3000, 1000) == 1000
    assert ram_weight_layers({1: small, 2: big}, big.ram_copy_bytes) == {2}
    assert ram_weight_layers({1: small, 2: big}, 2 * big.ram_copy_bytes) == {1, 2}
    assert ram_weight_layers({1: small, 2: big}, 0) == set()


def test_generated_convolutions_with_weights_in_flash_are_bit_exact_on_the_cortex_m4():
    """On a board whose RAM the arena fills the convolutions read their int8 weights from flash (SXTB16)."""
    from dataclasses import replace

    from tinyml_kit.core.boards import get_board
    from tinyml_kit.engine.codegen import compile_model

    flatbuffer = int8_model(_chain([(8, 3, 1, "same", "relu", True), (7, 3, 2, "same", "relu6", True),
                                    (5, 1, 1, "valid", None, False)]), shape=(9, 11, 3))
    board = replace(get_board("nucleo-l4r5zi"), ram_linked_bytes=compile_model(flatbuffer).arena_bytes)
    assert bit_exact_on_the_m4(flatbuffer, board=board)[0].ram_constant_bytes == 0


def _srdhm(a: int, b: int) -> int:
    """TFLite's SaturatingRoundingDoublingHighMul (nudge, then division truncating toward zero)."""
    if a == b == -2**31:
        return 2**31 - 1
    ab = a * b
    num = ab + ((1 << 30) if ab >= 0 else 1 - (1 << 30))
    return abs(num) // 2**31 * (1 if num >= 0 else -1)


def _rdbpot(x: int, exponent: int) -> int:
    mask = (1 << exponent) - 1
    return (x >> exponent) + int((x & mask) > (mask >> 1) + int(x < 0))


def _reference(acc: int, m: int, shift: int) -> int:
    """TFLite's MultiplyByQuantizedMultiplier, double rounding."""
    return _rdbpot(_srdhm(acc * (1 << max(shift, 0)), m), max(-shift, 0))


def test_requantization_equals_tflite_on_edge_accumulators_and_every_shift(tmp_path):
    """The generated kernels' requantization (the portable C; the assembly is checked by the QEMU test above)
    against a port of TFLite's, left shifts kept free of overflow as TFLite's arithmetic requires."""
    import subprocess

    from tinyml_kit.engine.conv_gen import SUPPORT_C
    from tinyml_kit.export.toolchain import find_cmsis_nn_dir

    rng = np.random.default_rng(0)
    accs = [0, 1, -1, 2**31 - 1, -2**31 + 1, -2**31, *(s * (2**k + d) for k in range(1, 31) for d in (-1, 0, 1)
                                                       for s in (1, -1)), *rng.integers(-2**31, 2**31, 40)]
    cases = [(int(a), int(m), s) for a in accs for m in (2**30, 2**31 - 1, int(rng.integers(2**30, 2**31)))
             for s in range(-31, 31) if s <= 0 or abs(int(a)) < 2**(31 - s)]
    source = tmp_path / "rq.c"
    main = r"""
int main(void) {
  long a, m, s;
  while (scanf("%ld %ld %ld", &a, &m, &s) == 3) {
    const long right = s < 0 ? (long)tinyml_cv_requantize_right((int32_t)a, (int32_t)m, (int32_t)-s) : 0L;
    printf("%ld %ld\n", (long)tinyml_cv_requantize((int32_t)a, (int32_t)m, (int32_t)s), right);
  }
  return 0;
}
"""
    source = tmp_path / "rq.c"
    includes = '#include <stdio.h>\n#include <string.h>\n#include "arm_nnsupportfunctions.h"\n'
    source.write_text(includes + SUPPORT_C + main)
    exe = tmp_path / "rq"
    subprocess.run(["gcc", "-std=c11", "-O2", "-Wall", "-Wextra", "-Werror", "-Wno-unused-function", "-isystem",
                    str(find_cmsis_nn_dir() / "Include"), str(source), "-o", str(exe)], check=True)
    out = subprocess.run([str(exe)], input="\n".join(f"{a} {m} {s}" for a, m, s in cases), capture_output=True,
                         text=True, check=True).stdout.split("\n")
    for (a, m, s), line in zip(cases, out, strict=False):
        expected = _reference(a, m, s)
        general, right = (int(v) for v in line.split())
        assert general == expected and (s >= 0 or right == expected), (a, m, s, general, right, expected)
    assert len(out) - 1 == len(cases)


@pytest.mark.parametrize("in_c, kernel, step", [(280, 1, "TINYML_Q23("), (520, 3, None), (18, 5, "TINYML_Q23D(")])
def test_wide_layers_assemble_for_the_cortex_m4(in_c, kernel, step, tmp_path):
    """Offsets past LDRD's immediate take LDR, past LDR's the C row: every layer assembles (arm-none-eabi-gcc,
    the engine's warnings as errors)."""
    import subprocess

    from tinyml_kit.check.verify import ENGINE_C_FLAGS
    from tinyml_kit.core.cores import CORES
    from tinyml_kit.engine.conv_gen import ConvQuant, Sharing, _Kernel
    from tinyml_kit.engine.conv_support import SUPPORT_C
    from tinyml_kit.export.toolchain import find_cmsis_nn_dir

    layout = ConvLayout((7, 7, in_c), (7, 7, 6), (kernel, kernel), (1, 1), (kernel // 2, kernel // 2))
    arrays = (f"static const int8_t w0[{layout.weight_bytes}] = {{0}};\nstatic const int32_t m0[6] = {{0}};\n"
              "static const int8_t s0[6] = {0};\nstatic const int32_t b0[6] = {0};\n")
    kernel_c = _Kernel(layout, Sharing((0,), (ConvQuant(128, -128, (-128, 127), True, True),))).definition()
    source = tmp_path / "k.c"
    assert (step in kernel_c) if step else ("TINYML_Q2" not in kernel_c)
    caller = "\nvoid run(const int8_t* in, int8_t* out, int16_t* buf) { tinyml_conv_0(in, out, buf); }\n"
    source.write_text('#include <string.h>\n#include "arm_nnsupportfunctions.h"\n' + SUPPORT_C + "\n" + arrays +
                      kernel_c + caller)
    subprocess.run(["arm-none-eabi-gcc", *CORES["m4"].gcc_flags, *ENGINE_C_FLAGS, "-isystem",
                    str(find_cmsis_nn_dir() / "Include"), "-c", str(source), "-o", str(tmp_path / "k.o")], check=True)
