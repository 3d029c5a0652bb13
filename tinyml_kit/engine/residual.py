"""Residual blocks as one step run row by row (`solve.residual_block` recognises them on the model's graph, the
same description the static plan reads): the block's convolutions as generated kernels that compute one output
row per call (`conv_gen.RowAccess`), and a driver that, per output row, computes the first convolution's rows
that row reads into a ring, the shortcut's row and the second convolution's row, then the ADD of the two rows
(the ADD step's own arithmetic, `add_row`) into the output, which the plan may put over the block input. The
block's convolutions may read their weights widened into RAM like any other (`codegen.weights_in_ram`).
"""

from collections.abc import Collection
from dataclasses import replace

from tinyml_kit.engine import ir
from tinyml_kit.engine.conv_gen import RowAccess
from tinyml_kit.engine.conv_support import SUPPORT, SUPPORT_C
from tinyml_kit.engine.elementwise import add_arithmetic, add_table
from tinyml_kit.engine.kernels import conv_layout, conv_row_kernel, dilated
from tinyml_kit.engine.model_ir import Model
from tinyml_kit.engine.quantization import activation_range
from tinyml_kit.engine.steps import Step
from tinyml_kit.solve.residual_block import ResidualBlock, with_blocks


def fuse_blocks(model: Model, steps: list[Step], blocks: list[ResidualBlock],
                ram: Collection[int] = ()) -> list[Step]:
    """`steps` (one per op) with each residual block of the model's graph (`residual_blocks` on the kernels
    chosen for it) replaced by one; the convolutions in `ram` (op indices) read their weights widened into RAM
    (`codegen.compile_model`)."""
    blocks = [b for b in blocks if _runs(model, b)]
    return with_blocks(steps, blocks, lambda block: replace(block_step(model, block, ram),
                                                            fused=tuple(steps[i] for i in block.ops)))


def _runs(model: Model, block: ResidualBlock) -> bool:
    """The graph's block is the model's: undilated convolutions (a graph assumes them) with the layouts the graph
    read off the shapes."""
    convs = [model.ops[i] for i in (block.first, block.second, block.shortcut) if i is not None]
    return not any(dilated(model, op) for op in convs) and \
        tuple(conv_layout(model, op) for op in convs) == block.layouts


def block_step(model: Model, block: ResidualBlock, ram: Collection[int] = ()) -> Step:
    add = model.ops[block.add]
    a, b, out = model.tensor(add, 0), model.tensor(add, 1), model.tensor(add, 0, outputs=True)
    act = activation_range(add.option("fusedActivationFunction", 0), out.scale, out.zero_point)
    tables, after = add_arithmetic(add.index, a, b, out, act)
    main = model.ops[block.second].outputs[0]
    conv_table, other_table = tables if a.index == main else tables[::-1]
    rows = [(block.first, RowAccess()), (block.second, RowAccess(block.ring_rows))]
    if block.shortcut is not None:
        rows.append((block.shortcut, RowAccess()))
    arrays, functions = list(tables), [ir.Function(SUPPORT, SUPPORT_C)]
    for i, access in rows:
        constants, function = conv_row_kernel(model, model.ops[i], access, i in ram)
        arrays += constants
        functions.append(function)
    functions += [ir.Function(f"tinyml_block_{add.index}_add", add_row(block, add.index, after)),
                  ir.Function(f"tinyml_block_{add.index}", driver(block, add.index))]
    call = ir.Call(f"tinyml_block_{add.index}", (
        ir.Tensor(block.block_input), ir.Tensor(block.output), ir.Cast("int8_t *", ir.Scratch(add.index)),
        add_table(conv_table), add_table(other_table)))
    return Step(add.index, "RESIDUAL_BLOCK", (block.block_input,), block.output, [(call,)], arrays,
                scratch_bytes=block.scratch_bytes, overlap=0 if block.in_place else None, functions=functions)


def add_row(block: ResidualBlock, index: int, after: tuple[int, int, int, int, int]) -> str:
    """The ADD of one row of the second convolution (`a`) and of the other input (`r`), either of which `out` may
    be, as `tinyml_add_s8` computes it (its tables `t1` for `a`, `t2` for `r`), the requantization as the generated
    convolutions compute TFLite's (the same function of its input, `engine.conv_support`) with the block's
    constants: fewer instructions per element than the ADD step's call."""
    zero_point, mult, shift, lo, hi = after
    requantized = (f"tinyml_cv_requantize_right(t1[a[n]] + t2[r[n]], {mult}, {-shift})" if shift < 0 else
                   f"tinyml_cv_requantize(t1[a[n]] + t2[r[n]], {mult}, {shift})")
    store = ("tinyml_cv_sat8(v)" if (lo, hi) == (-128, 127) else
             f"(int8_t)(v < {lo} ? {lo} : (v > {hi} ? {hi} : v))")
    return "\n".join([
        f"static void tinyml_block_{index}_add(const int8_t* a, const int8_t* r, int8_t* out, const int32_t* t1, "
        "const int32_t* t2) {",
        f"  for (int32_t n = 0; n < {block.layouts[1].out_hwc[1] * block.layouts[1].out_hwc[2]}; ++n) {{",
        f"    const int32_t v = {requantized} + {zero_point};",
        f"    out[n] = {store};", "  }", "}"])


def driver(block: ResidualBlock, index: int) -> str:
    """The C of the block's row loop; `out` may be `x` (the plan put the output over the input: `in_place`)."""
    first, second = block.layouts[:2]
    out_h, out_w, out_c = second.out_hwc
    ring, row, _ = block.scratch_parts
    at = f"out + oy * {out_w * out_c}"
    second_row, other = ("row", f"x + oy * {out_w * out_c}") if block.shortcut is None else (at, "row")
    lines = [
        f"static void tinyml_block_{index}(const int8_t* x, int8_t* out, int8_t* scratch, const int32_t* t1, "
        "const int32_t* t2) {",
        "  int16_t* buf = (int16_t*)(void*)scratch;",
        f"  int8_t* ring = scratch + {ring};",
        f"  int8_t* row = scratch + {row};   /* the second convolution's row (identity) or the shortcut's */",
        "  int32_t done = 0;",
        f"  for (int32_t oy = 0; oy < {out_h}; ++oy) {{",
        f"    const int32_t need = oy + {second.kernel_hw[0] - second.pad_hw[0]};",
        f"    for (; done < need && done < {first.out_hwc[0]}; ++done)",
        f"      tinyml_conv_{block.first}_row(x, ring + (done % {block.ring_rows}) * {block.ring_row_bytes}, buf, "
        "done);",
        *([f"    tinyml_conv_{block.shortcut}_row(x, row, buf, oy);"] if block.shortcut is not None else []),
        f"    tinyml_conv_{block.second}_row(ring, {second_row}, buf, oy);",
        f"    tinyml_block_{index}_add({second_row}, {other}, {at}, t1, t2);",
        "  }", "}"]
    return "\n".join(lines)
