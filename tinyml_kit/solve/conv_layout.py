"""The memory layout of the C engine's generated CONV_2D kernels, from shapes alone: which convolutions get one,
the int16 row buffer it widens its input into (arena scratch), the bytes of its reordered weights (flash) and how
far its output may start before its dying input. Shared by the code generator (`engine.conv_gen`), the static
plan and the flash estimate, so the three count the same bytes.

The kernel (see `engine.conv_gen`) computes an output row in groups of `main_pixels` pixels; for each group it
keeps their windows in a buffer of `kh` rows of `(main_pixels - 1) * stride_w + kw` pixels widened to int16 with
the input offset added, padding as 0 (the zero point after the offset: TFLite's padding). Sliding to the next
group it moves the columns the windows share and widens only the new ones, so the buffer stays as small as
CMSIS-NN's im2col columns while each input element is widened about kh / stride_h times. A window's kernel row
is `kw * in_c` contiguous int16, read four at a time against one int8 weight word; each kernel row's weights are
zero-padded to a multiple of 4, so the last word of a window may reach up to 3 elements past it (into the next
column or row, or the zeroed slack after the last row) and multiply them by 0. Where RAM is to spare the plan
copies a layer's constants there at start-up, the weights widened to int16 (`ram_weight_layers`; the flash keeps
the int8 weights in the same order, so the flash bytes do not change).
"""

from dataclasses import dataclass
from functools import cached_property

from tinyml_kit.core.cores import KernelFamily
from tinyml_kit.core.graph import Graph, Op

STRAIGHT_WORDS = 12   # weight words per kernel row a 2 x 2 block runs as straight-line code before it loops
UNROLLED_WORDS = 12   # and in all, up to which its kernel rows are unrolled too


@dataclass(frozen=True)
class ConvLayout:
    in_hwc: tuple[int, int, int]
    out_hwc: tuple[int, int, int]
    kernel_hw: tuple[int, int]
    stride_hw: tuple[int, int]
    pad_hw: tuple[int, int]          # leading paddings (engine.quantization.padding)
    weights_in_ram: bool = False     # widened to int16 into RAM at start-up (`ram_weight_layers`)

    @cached_property
    def row_pixels(self) -> int:
        """Pixels of one buffer row: the columns the windows of one group cover."""
        return (self.main_pixels - 1) * self.stride_hw[1] + self.kernel_hw[1]

    @cached_property
    def row_elements(self) -> int:
        return self.row_pixels * self.in_hwc[2]

    @cached_property
    def window_row(self) -> int:
        """int16 elements of one kernel row of a window."""
        return self.kernel_hw[1] * self.in_hwc[2]

    @cached_property
    def padded_window_row(self) -> int:
        """A kernel row's weights, zero-padded to whole 4-byte words."""
        return -(-self.window_row // 4) * 4

    @property
    def slack(self) -> int:
        """int16 elements read past the last row by the last window's last word (times a zero weight)."""
        return self.padded_window_row - self.window_row

    @property
    def scratch_bytes(self) -> int:
        """The window buffer: `kh` rows and the slack, as int16."""
        return 2 * (self.kernel_hw[0] * self.row_elements + self.slack)

    @cached_property
    def weight_bytes(self) -> int:
        """Flash of the reordered weights: per output channel, `kh` padded kernel rows."""
        return self.out_hwc[2] * self.kernel_hw[0] * self.padded_window_row

    @property
    def ram_copy_bytes(self) -> int:
        """RAM its constants take if the plan copies them there (the flash keeps its own copy): the weights as
        int16 and, read per output, each channel's bias, multiplier (int32) and shift (int8)."""
        return 2 * self.weight_bytes + 9 * self.out_hwc[2]

    @property
    def ram_bytes(self) -> int:
        """RAM of its constants' copies, if the plan put them there."""
        return self.ram_copy_bytes if self.weights_in_ram else 0

    @property
    def macs(self) -> int:
        out_h, out_w, out_c = self.out_hwc
        return out_h * out_w * out_c * self.kernel_hw[0] * self.kernel_hw[1] * self.in_hwc[2]

    @cached_property
    def words(self) -> int:
        """Weight words per kernel row: the 4-byte steps of a block's straight-line code."""
        return self.padded_window_row // 4

    @cached_property
    def chunk_words(self) -> int:
        """Words of a kernel row a 2 x 2 block runs as straight-line code: the whole row up to STRAIGHT_WORDS,
        beyond that equal chunks (a divisor from half of STRAIGHT_WORDS up) in a loop, bounding the code of wide
        layers."""
        if self.words <= STRAIGHT_WORDS:
            return self.words
        divisors = [d for d in range(STRAIGHT_WORDS // 2, STRAIGHT_WORDS + 1) if self.words % d == 0]
        return max(divisors or [STRAIGHT_WORDS])

    @cached_property
    def main_pixels(self) -> int:
        """Pixels of the kernel's main block (2 channels x 3 pixels; narrower outputs take what they have):
        the rest of a row is one block of fewer pixels."""
        return min(3, self.out_hwc[1])

    @cached_property
    def unrolled(self) -> bool:
        """Whether a 2 x 2 block runs its kernel rows as straight-line code too (no loop over them): where all
        its words are few, so the loop's overhead would be a large share."""
        return self.kernel_hw[0] * self.words <= UNROLLED_WORDS

    @property
    def straight_words(self) -> int:
        """Weight words x pixels of the blocks' straight-line code (what its size grows with): per kernel row
        the chunk and the remainder after the chunks, for the main block (times kh if unrolled) and for the
        2-pixel block that ends a row when 3 pixels do not divide it."""
        chunk = self.chunk_words
        per_row = chunk + self.words % chunk if self.words > chunk else chunk
        main = self.main_pixels if self.main_pixels > 1 else 0
        rest = 2 if main == 3 and self.out_hwc[1] % 3 == 2 else 0
        return per_row * (main * (self.kernel_hw[0] if self.unrolled else 1) + rest)

    @cached_property
    def channel_bytes(self) -> int:
        """Reordered weights per output channel, `kh` padded kernel rows: bytes in flash (int8), elements of the
        int16 stream where the weights are in RAM."""
        return self.kernel_hw[0] * self.padded_window_row

    @cached_property
    def window_step(self) -> int:
        """int16 elements between adjacent windows in the buffer."""
        return self.stride_hw[1] * self.in_hwc[2]

    def aligned(self, pixels: int) -> bool:
        """Whether a 2 x `pixels` block reads its windows with LDRD: every window starts on a word (int16 pairs at
        even offsets of the word-aligned buffer) and its last offset of a chunk fits LDRD's immediate."""
        last_x = 2 * (pixels - 1) * self.window_step + 8 * (self.chunk_words - 1)
        return self.window_step % 2 == 0 and self.row_elements % 2 == 0 and last_x <= 1020

    def assembly(self, pixels: int) -> bool:
        """Whether a 2 x `pixels` block's kernel rows run as the inline assembly: its weight offsets fit LDR's
        immediate (weights in RAM have none: LDM walks their int16 stream), and its window offsets LDRD's
        (`aligned`) or LDR's; otherwise the C row, which is also all that builds without the assembly (-O0) run."""
        last_x = 2 * (pixels - 1) * self.window_step + 8 * (self.chunk_words - 1)
        last_w = 0 if self.weights_in_ram else self.channel_bytes + 4 * (self.chunk_words - 1)
        return pixels > 1 and last_w <= 4095 and (self.aligned(pixels) or last_x + 4 <= 4095)

    @property
    def c_blocks(self) -> int:
        """Blocks emitted as C loops: an odd channel beside the main block, and the 1-pixel blocks (or the odd
        channel of the 2-pixel block) ending a row that 3 pixels do not divide."""
        out_w, out_c = self.out_hwc[1:]
        rest = out_w % self.main_pixels
        odd = out_c % 2
        return odd + (int(out_c >= 2) + odd if rest == 1 else odd if rest == 2 else 0)

    @property
    def overlap(self) -> int | None:
        """Bytes before its dying input the output may start, or None. A group of pixels is written once its
        windows are in the buffer; every later group reads input from its windows' top-left corner on (a later
        row's groups further on), so the group's output must end before that corner. Unit-stride 1x1
        convolutions offer none, as with CMSIS-NN (offered, the planner's choices grew TinyNets' arenas)."""
        if self.kernel_hw == (1, 1) and self.stride_hw == (1, 1):
            return None
        (in_h, in_w, in_c), (out_h, out_w, out_c) = self.in_hwc, self.out_hwc
        (sh, sw), (ph, pw), main = self.stride_hw, self.pad_hw, self.main_pixels
        starts = [(y, x) for y in range(out_h) for x in range(0, out_w, main)]
        need = [0]
        for (y, x), (ny, nx) in zip(starts, starts[1:], strict=False):
            end = y * out_w + min(x + main, out_w)
            corner = min(max(ny * sh - ph, 0), in_h) * in_w + min(max(nx * sw - pw, 0), in_w)
            need.append(end * out_c - corner * in_c)
        return max(need)

def weight_ram_budget(ram_bytes: int, arena_bytes: int) -> int:
    """RAM the plan may fill with widened weights: half of what the arena leaves of the board's RAM (`ram_bytes`,
    0 when the target is unknown), so the application keeps at least as much as the weights take."""
    return max(ram_bytes - arena_bytes, 0) // 2


def ram_weight_layers(layouts: dict[int, ConvLayout], budget: int) -> set[int]:
    """The generated convolutions (op index -> layout) whose constants the plan copies into RAM at start-up, the
    weights widened: int16 weights there cost no flash wait states and no widening in the loop (`engine.conv_gen`).
    Most MACs per byte of RAM first, while the copies fit `budget` (`weight_ram_budget`)."""
    chosen, left = set(), budget
    copied = {i: lay for i, lay in layouts.items() if lay.ram_copy_bytes}   # a layer of no channels has none
    for i, lay in sorted(copied.items(), key=lambda kv: (-kv[1].macs / kv[1].ram_copy_bytes, kv[0])):
        if lay.ram_copy_bytes <= left:
            chosen.add(i)
            left -= lay.ram_copy_bytes
    return chosen


def generated(dilation_hw: tuple[int, int], family: KernelFamily) -> bool:
    """Whether a CONV_2D runs a generated kernel: every undilated one on the cores of the DSP family (dilated ones,
    and every one on a Helium core, call CMSIS-NN: the generated kernels are written for the DSP extension)."""
    return dilation_hw == (1, 1) and family.generates_kernels


def graph_layout(graph: Graph, op: Op) -> ConvLayout:
    """The layout of a graph's CONV_2D, the leading padding read off the shapes."""
    _, in_h, in_w, in_c = graph.tensors[op.inputs[0]].shape
    _, out_h, out_w, out_c = graph.tensors[op.outputs[0]].shape
    (kh, kw), (sh, sw) = op.kernel_hw, op.stride_hw
    pad = (max((out_h - 1) * sh + kh - in_h, 0) // 2, max((out_w - 1) * sw + kw - in_w, 0) // 2)
    return ConvLayout((in_h, in_w, in_c), (out_h, out_w, out_c), (kh, kw), (sh, sw), pad)
