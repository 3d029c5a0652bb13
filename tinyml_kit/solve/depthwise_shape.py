"""The shape rules of the C engine's generated depthwise kernels that the flash estimate needs as well as the code
generator (`engine.depthwise_kernels`): how the output is cut into rectangles of pixels with the same valid
kernel taps, and what the generated code and constants cost.

Code bytes were fitted by least squares on the generated functions of the MobileNets, TinyNets and PhiNets of
`bench/engine.py` (arm-none-eabi-gcc 12.2, -Os -fno-inline, Cortex-M4F): a constant per layer, per loop body
and per unrolled tap (`CODE_BYTES`)."""

from dataclasses import dataclass

BLOCK_EXTRA_WORDS = 9   # per channel group after its weights: 4 multipliers, 1 word of 4 shifts, 4 interior biases


def segments(in_size: int, out_size: int, kernel: int, stride: int, pad: int) -> list[tuple[int, int, int, int]]:
    """Runs of output positions along one axis whose windows cover the same kernel taps: (first, end, first
    tap, end tap), in order."""
    runs: list[list[int]] = []
    for o in range(out_size):
        start = o * stride - pad
        k0, k1 = max(0, -start), min(kernel, in_size - start)
        if runs and runs[-1][1] == o and runs[-1][2:] == [k0, k1]:
            runs[-1][1] = o + 1
        else:
            runs.append([o, o + 1, k0, k1])
    return [(a, b, c, d) for a, b, c, d in runs]


def same_pad(in_size: int, out_size: int, kernel: int, stride: int) -> int:
    """TFLM's leading padding (`engine.quantization.padding` without dilation): VALID outputs give 0."""
    return max((out_size - 1) * stride + kernel - in_size, 0) // 2


@dataclass(frozen=True)
class DepthwiseCost:
    constant_bytes: int
    code_bytes: int


# per layer (prologue, the interior's inline requantization, the shared store and edge functions spread over
# the layers), pixel loop, full-group tap, tail tap: 53 functions, largest residual 323 B, sums equal
CODE_BYTES = (233.5, 59.3, 49.7, 20.6)


def interior_run(width: int) -> int:
    """Pixels of an interior row computed per channel group: the largest of 4, 3, 2, 1 dividing the row, so one
    unrolled loop covers it (no second copy for the rest) and each group's constants are read once a run."""
    return next(n for n in (4, 3, 2, 1) if width % n == 0)


def rectangles(in_hwc: tuple[int, int, int], out_hw: tuple[int, int], kernel_hw: tuple[int, int],
               stride: tuple[int, int], pad: tuple[int, int]) -> dict[tuple[int, int, int, int], list[int]]:
    """The tap rectangles (ky0, ky1, kx0, kx1), each with its pixels' count and how many output rows and
    columns it spans, the interior (most pixels) first."""
    rows = segments(in_hwc[0], out_hw[0], kernel_hw[0], stride[0], pad[0])
    cols = segments(in_hwc[1], out_hw[1], kernel_hw[1], stride[1], pad[1])
    size: dict[tuple[int, int, int, int], list[int]] = {}
    for r in rows:
        for q in cols:
            entry = size.setdefault((r[2], r[3], q[2], q[3]), [0, 0])
            entry[0] += (r[1] - r[0]) * (q[1] - q[0])
            entry[1] = max(entry[1], q[1] - q[0])
    return dict(sorted(size.items(), key=lambda item: -item[1][0]))


def depthwise_cost(in_hwc: tuple[int, int, int], out_hw: tuple[int, int], kernel_hw: tuple[int, int],
                   stride: tuple[int, int]) -> DepthwiseCost:
    """Flash of one generated depthwise layer: its packed constants and edge-bias table (exact) and its code
    (estimated, `CODE_BYTES`; the code generator's loops, `engine.depthwise_kernels._loops`, counted)."""
    (h, w, c), (kh, kw) = in_hwc, kernel_hw
    pad = same_pad(h, out_hw[0], kh, stride[0]), same_pad(w, out_hw[1], kw, stride[1])
    rects = rectangles(in_hwc, out_hw, kernel_hw, stride, pad)
    interior = next(iter(rects))
    groups, full, tail = -(-c // 4), int(c >= 4), int(c % 4 > 0)
    constants = 4 * groups * (kh * kw + BLOCK_EXTRA_WORDS) + 4 * c * (len(rects) - 1)
    loops = taps = 0
    for r in segments(h, out_hw[0], kh, stride[0], pad[0]):
        for q in segments(w, out_hw[1], kw, stride[1], pad[1]):
            rect = (r[2], r[3], q[2], q[3])
            if rect == interior or rects[rect][0] > 1:   # single-pixel edges call the shared edge function
                loops += 1
                taps += (r[3] - r[2]) * (q[3] - q[2])
    features = (1, loops, taps * full, taps * tail)
    return DepthwiseCost(constants, int(round(sum(f * b for f, b in zip(features, CODE_BYTES, strict=True)))))
