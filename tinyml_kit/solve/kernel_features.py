"""What the C engine's generated CONV_2D and DEPTHWISE_CONV_2D kernels loop over, counted from shapes alone by the
same layout code that decides the kernels (`solve.conv_layout`, `solve.depthwise_shape`), so the per-op cost
model (`solve.instructions`) follows the kernels as they change.

A generated convolution computes blocks of 2 channels x 3 pixels (a row's last 1 or 2 pixels and an odd channel
take smaller blocks) over zero-padded kernel rows: its MACs are counted padded, split by how a block runs (the
inline assembly with LDRD, with LDR where windows start off a word, or the C row of the tails); its loop overheads
per block, per looped kernel row and per kernel row of the windows it widens; the int16 elements it widens or
moves into its window buffer; a requantization per output; and the flash lines of its weights, once per layer,
and again per group of pixels where a block's weights are more than a flash data cache holds (none where the build
copied its weights to RAM, `solve.weight_placement`). A generated depthwise layer runs each rectangle of pixels
with the same valid taps as its own loop: MACs of the groups of 4 channels and of the channel-by-channel tail,
outputs stored inline (the interior) or by a call (the edges), and a block of constants read per channel group
and run of pixels.
"""

from dataclasses import replace

from tinyml_kit.core.graph import Graph, Op
from tinyml_kit.core.timing import REFERENCE_CACHE
from tinyml_kit.solve.conv_layout import ConvLayout, graph_layout
from tinyml_kit.solve.depthwise_shape import interior_run, rectangles, same_pad

# The features only generated kernels have (`solve.instructions.FEATURES` adds them to CMSIS-NN's).
GENERATED_FEATURES = ("tail_macs", "ldr_macs", "blocks", "block_rows", "window_rows", "edge_outputs",
                      "weight_lines", "streamed_lines", "conflict_lines")
# What a flash data cache holds (the reference one profiles count misses against): a block whose weights exceed it
# reads them from flash again for every group of pixels, a smaller one keeps them. The cache is direct-mapped
# (`core.timing`): where a channel's weights are a whole number of cache sizes, the two channels of a block read
# lines of the same set word by word, and each read misses.
_CACHE_BYTES = REFERENCE_CACHE.lines * REFERENCE_CACHE.line_bytes


def _block(layout: ConvLayout, chans: int, pixels: int, times: int, f: dict[str, float]) -> None:
    """`times` executions of a `chans` x `pixels` block added to `f` (as `engine.conv_gen` emits it)."""
    kh, words = layout.kernel_hw[0], layout.words
    macs = times * chans * pixels * kh * 4 * words
    f["blocks"] += times
    if not layout.weights_in_ram and chans * layout.channel_bytes > _CACHE_BYTES:
        lines = times * chans * layout.channel_bytes / REFERENCE_CACHE.line_bytes
        f["streamed_lines"] += lines
        f["conflict_lines"] += lines if chans == 2 and layout.channel_bytes % _CACHE_BYTES == 0 else 0
    if chans == 2 and layout.assembly(pixels):
        f["macs"] += macs
        f["ldr_macs"] += 0 if layout.aligned(pixels) else macs
        chunks = words // layout.chunk_words
        unrolled = pixels == layout.main_pixels and layout.unrolled
        f["block_rows"] += times * (0 if unrolled else kh) * (chunks if chunks > 1 else 1)
    else:
        f["tail_macs"] += macs
        f["block_rows"] += times * kh


def conv_features(graph: Graph, op: Op, f: dict[str, float], in_ram: bool = False) -> None:
    """A generated CONV_2D's counts into `f` (a dict with every feature, `outputs` and `ops` set); `in_ram`: its
    weights read widened from RAM (`solve.weight_placement`), which reads no flash lines for them."""
    layout = replace(graph_layout(graph, op), weights_in_ram=in_ram)
    out_h, out_w, out_c = layout.out_hwc
    kh, in_c, main = layout.kernel_hw[0], layout.in_hwc[2], layout.main_pixels
    rest = out_w % main
    groups = [(main, layout.row_pixels, out_w // main)] + ([(rest, (rest - 1) * layout.stride_hw[1] +
                                                              layout.kernel_hw[1], 1)] if rest else [])
    row: dict[str, float] = dict.fromkeys(f, 0.0)
    for pixels, cols, times in groups:   # per output row: the main groups, then the rest of the row
        row["im2col"] += times * kh * cols * in_c
        row["window_rows"] += times * kh
        _block(layout, 2, pixels, times * (out_c // 2), row)
        _block(layout, 1, pixels, times * (out_c % 2), row)
    for k in ("macs", "ldr_macs", "tail_macs", "blocks", "block_rows", "im2col", "window_rows", "streamed_lines",
              "conflict_lines"):
        f[k] = out_h * row[k]
    f["weight_lines"] = 0.0 if in_ram else layout.weight_bytes / REFERENCE_CACHE.line_bytes


def depthwise_features(graph: Graph, op: Op, f: dict[str, float]) -> None:
    """A generated DEPTHWISE_CONV_2D's counts into `f` (`engine.depthwise_kernels`: interior in runs of
    `interior_run` pixels per channel group, edges pixel by pixel)."""
    _, h, w, c = graph.tensors[op.inputs[0]].shape
    _, oh, ow, _ = graph.tensors[op.outputs[0]].shape
    (kh, kw), (sh, sw) = op.kernel_hw, op.stride_hw
    pad = same_pad(h, oh, kh, sh), same_pad(w, ow, kw, sw)
    full, groups = c // 4, -(-c // 4)
    for i, ((ky0, ky1, kx0, kx1), (pixels, width)) in enumerate(
            rectangles((h, w, c), (oh, ow), (kh, kw), (sh, sw), pad).items()):
        taps = (ky1 - ky0) * (kx1 - kx0)
        f["macs"] += pixels * taps * 4 * full
        f["tail_macs"] += pixels * taps * (c % 4)
        f["blocks"] += groups * (pixels // interior_run(width) if i == 0 else pixels)
        f["edge_outputs"] += 0 if i == 0 else pixels * c
