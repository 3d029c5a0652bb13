"""CMSIS-NN's s8 kernels as the C engine's static plan needs them, per kernel family (`core.cores.KernelFamily`):
the scratch each asks for, as its `*_get_buffer_size` functions size it when built with GCC, and how far its
output may start before its dying input, from the order it touches memory.

Without Helium, one plan serves a core with or without the DSP extension (the larger of the two sizes), so the
host, Cortex-M4F, M7 and M33 builds share it; with Helium, the plan is exactly what the MVE build asks (measured
against CMSIS-NN's own `*_mve` size functions by `check.c_scratch`). The generated `tinyml_init` asks CMSIS-NN
again and refuses a smaller plan, and the generated C refuses to build for the other family.
"""

import math

import numpy as np

from tinyml_kit.core.cores import KernelFamily


def conv_scratch_bytes(in_hwc: tuple[int, int, int], kernel_hw: tuple[int, int], stride_hw: tuple[int, int],
                       pad_hw: tuple[int, int], dilation_hw: tuple[int, int], out_w: int,
                       family: KernelFamily) -> int:
    """arm_convolve_wrapper_s8_get_buffer_size as GCC builds it for `family`: 1x1 kernels need none; without
    Helium, the others an int16 im2col of two columns; with it, four int8 columns in whole 16-byte vectors, or
    for a 1xN kernel over one row (arm_convolve_1_x_n_s8) the padded window of one output."""
    in_h, in_w, in_c = in_hwc
    kh, kw = kernel_hw
    if (kh, kw) == (1, 1) and pad_hw == (0, 0) and dilation_hw == (1, 1):
        return 0
    cols = kh * kw * in_c
    if family is KernelFamily.DSP:
        return 2 * ((cols + 3) // 4 * 4) * 2   # two int16 columns of 4-aligned length
    if in_h == 1 and kh == 1 and dilation_hw[1] == 1 and (stride_hw[1] * in_c) % 4 == 0:
        one_row = _one_by_n_mve_bytes(in_w, in_c, kw, stride_hw[1], pad_hw[1], out_w)
        if one_row is not None:
            return one_row
    return 4 * ((cols + 15) // 16 * 16)   # four int8 columns in whole 16-byte vectors


def _one_by_n_mve_bytes(in_w: int, in_c: int, kw: int, stride: int, pad: int, out_w: int) -> int | None:
    """arm_convolve_1_x_n_s8_get_buffer_size_mve, or None where it falls back to arm_convolve_s8's size."""
    asym = ((out_w - 1) * stride + kw - in_w) % 2
    right = max(1, (pad + asym + stride - 1) // stride) if pad + asym else 0
    left = max(1, (pad + stride - 1) // stride) if pad else 0
    if right + max(out_w - right - left, 0) + left != out_w:
        return None
    pad_left = pad * in_c
    pad_right = right * in_c if asym else pad_left
    return max(kw * in_c + pad_left, (kw - 1) * in_c + pad_right)


CH_IN_BLOCK_MVE = 124   # channels arm_depthwise_conv_s8_opt's Helium path takes per pass over the whole map


def depthwise_scratch_bytes(in_hwc: tuple[int, int, int], out_hwc: tuple[int, int, int], kernel_hw: tuple[int, int],
                            stride_hw: tuple[int, int], pad_hw: tuple[int, int], dilation_hw: tuple[int, int],
                            family: KernelFamily) -> int:
    """arm_depthwise_conv_wrapper_s8_get_buffer_size as GCC builds it for `family`. Without Helium: the 3x3
    kernel and the generic one need none, the optimized one an int16 row of the kernel window per channel. With
    it: one input channel becomes a convolution (its scratch, then the weights transposed), the optimized kernel
    (3x3 included) four windows of `CH_IN_BLOCK_MVE` channels, the generic one none."""
    in_c, out_c = in_hwc[2], out_hwc[2]
    if family is KernelFamily.MVE and in_c == 1 and out_c > 1:
        return (conv_scratch_bytes(in_hwc, kernel_hw, stride_hw, pad_hw, dilation_hw, out_hwc[1], family)
                + kernel_hw[0] * kernel_hw[1] * out_c)
    if in_c != out_c or dilation_hw != (1, 1):
        return 0
    if family is KernelFamily.MVE:
        return 4 * CH_IN_BLOCK_MVE * kernel_hw[0] * kernel_hw[1]
    if kernel_hw == (3, 3) and max(pad_hw) <= 1:
        return 0
    return in_c * kernel_hw[0] * kernel_hw[1] * 2


OVERLAP_BATCH = 4   # output pixels the im2col path gathers before writing (2 with DSP, 4 with MVE): the slack


def overlap_bytes(in_hwc: tuple[int, int, int], out_hwc: tuple[int, int, int], kernel_hw: tuple[int, int],
                  stride_hw: tuple[int, int], pad_hw: tuple[int, int], dilation_hw: tuple[int, int],
                  family: KernelFamily, depthwise: bool = False) -> int | None:
    """How many bytes before its input a convolution's output may start when the input dies at it, or None.

    Read off the order in which CMSIS-NN's s8 kernels touch memory, for `family`:
    - the im2col path (arm_convolve_s8: every kernel but 1x1 and 1xN) and every depthwise kernel (3x3, opt and
      generic) read the windows of one or a few output pixels (2 without Helium, 4 with), then write those pixels,
      in raster order: output pixel p may be written once no later window needs the input below the top-left
      corner of p's window;
    - the strided 1x1 path (arm_convolve_1x1_s8) computes one output row per call, channel by channel over the
      whole row, reading one input row: output row r may be written once input rows before r * stride are dead;
    - the unit-stride 1x1 path multiplies all pixels at once, and the 1xN path is not modelled: None;
    - with Helium, a depthwise layer of more than `CH_IN_BLOCK_MVE` channels passes over the whole map once per
      block of channels, so a later pass reads every pixel again after the first wrote its block: safe only when
      the output is a whole number of pixels before the input (each block's writes then land on its own
      channels), so d is rounded up to whole pixels that the plan's 4-byte alignment keeps whole. A depthwise
      layer of one input channel runs as a convolution.
    The output then begins d bytes before the input and the two take little more than the larger of them
    (TinyEngine's in-place idea)."""
    in_h, in_w, in_c = in_hwc
    out_h, out_w, out_c = out_hwc
    if depthwise and family is KernelFamily.MVE:
        if in_c == 1 and out_c > 1:
            return overlap_bytes(in_hwc, out_hwc, kernel_hw, stride_hw, pad_hw, dilation_hw, family)
    one_by_one = kernel_hw == (1, 1) and pad_hw == (0, 0) and dilation_hw == (1, 1) and not depthwise
    if one_by_one and stride_hw == (1, 1):
        return None
    if one_by_one:
        rows = np.arange(out_h)
        return max(0, int(np.max((rows + 1) * out_w * out_c - rows * stride_hw[0] * in_w * in_c)))
    if in_h == 1 and kernel_hw[0] == 1 and not depthwise:
        return None
    rows = np.maximum(np.arange(out_h) * stride_hw[0] - pad_hw[0], 0)
    cols = np.maximum(np.arange(out_w) * stride_hw[1] - pad_hw[1], 0)
    corner = (rows[:, None] * in_w + cols[None, :]).reshape(-1)
    pixel = np.arange(out_h * out_w)
    d = max(0, int(np.max((pixel + OVERLAP_BATCH) * out_c - corner * in_c)))
    if depthwise and family is KernelFamily.MVE and in_c > CH_IN_BLOCK_MVE and in_c == out_c and dilation_hw == (1, 1):
        whole = math.lcm(in_c, 4)   # pixels, in bytes the plan's alignment (static_plan.ALIGN) leaves unchanged
        return -(-d // whole) * whole
    return d


def avgpool_scratch_bytes(channels: int, family: KernelFamily) -> int:
    """arm_avgpool_s8_get_buffer_size: an int32 sum per channel with the DSP extension (the portable build needs
    none), none with Helium."""
    return channels * 4 if family is KernelFamily.DSP else 0
