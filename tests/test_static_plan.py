"""The C engine's static memory plan on hand-made graphs: in-place reuse, branch order, overlap bounds."""

from tinyml_kit.core.cores import KernelFamily
from tinyml_kit.solve.cmsis_scratch import overlap_bytes
from tinyml_kit.solve.static_plan import PlanOp, plan

DSP, MVE = KernelFamily.DSP, KernelFamily.MVE


def test_a_branching_graph_runs_the_order_with_the_lower_peak():
    """Two 1000-byte branches from one input, joined at the end: in file order both big tensors are alive at
    once; run one branch to its 10-byte end first and they never are."""
    sizes = {0: 10, 1: 1000, 2: 1000, 3: 10, 4: 10, 5: 10}
    ops = [PlanOp((0,), 1), PlanOp((0,), 2), PlanOp((1,), 3), PlanOp((2,), 4), PlanOp((3, 4), 5, in_place=(3, 4))]
    given = plan(sizes, ops[:2] + ops[2:], 0, 5)   # the same ops: the planner may reorder them
    assert given.order != list(range(len(ops)))
    assert given.arena_bytes < 1100
    position = {op: pos for pos, op in enumerate(given.order)}
    assert all(position[d] < position[i] for i, deps in ((2, (0,)), (3, (1,)), (4, (2, 3))) for d in deps)


def test_elementwise_ops_reuse_a_dying_input():
    sizes = {0: 100, 1: 100, 2: 100}
    p = plan(sizes, [PlanOp((0,), 1), PlanOp((1,), 2, in_place=(1,))], 0, 2)
    assert p.offset_of(1) == p.offset_of(2) and p.arena_bytes == 200


def test_overlap_is_none_where_cmsis_nn_multiplies_all_pixels_at_once():
    assert overlap_bytes((8, 8, 4), (8, 8, 8), (1, 1), (1, 1), (0, 0), (1, 1), DSP) is None   # unit-stride 1x1
    # 3x3, stride 1, same padding, 4 -> 4 channels on 8x8: the output may start (width + 1 + slack) pixels early
    assert overlap_bytes((8, 8, 4), (8, 8, 4), (3, 3), (1, 1), (1, 1), (1, 1), DSP) == (8 + 1 + 4) * 4


def test_a_helium_depthwise_over_more_channels_than_a_block_shifts_its_output_by_whole_pixels():
    """CMSIS-NN's MVE depthwise kernel passes over the whole map once per 124 channels: a pass's outputs may only
    land on the channels of its own block, so the output starts whole pixels (and whole 4-byte words) before the
    input. Within one block, it is the raster order of the DSP kernels."""
    layer = ((8, 8, 128), (8, 8, 128), (3, 3), (1, 1), (1, 1), (1, 1))
    assert overlap_bytes(*layer, MVE, depthwise=True) == overlap_bytes(*layer, DSP, depthwise=True) == 13 * 128
    odd = ((8, 8, 130), (8, 8, 130), (3, 3), (1, 1), (1, 1), (1, 1))
    assert overlap_bytes(*odd, DSP, depthwise=True) == 13 * 130                 # 1690: the plan aligns it to 1692
    assert overlap_bytes(*odd, MVE, depthwise=True) == 14 * 130                 # 1820, a multiple of 4 and of 130
    small = ((8, 8, 124), (8, 8, 124), (3, 3), (1, 1), (1, 1), (1, 1))
    assert overlap_bytes(*small, MVE, depthwise=True) == overlap_bytes(*small, DSP, depthwise=True)
