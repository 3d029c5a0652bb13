"""Analytic costs without TensorFlow: one MAC formula per layer kind, and a PhiNet plan's parameters, MACs and
activation peak, so a budget search can score hundreds of configurations in milliseconds.

`nets.costs.model_costs` counts a built Keras model with the same formulas; `check.analyze` a .tflite.
"""

from dataclasses import dataclass

from tinyml_kit.core.spec import PhiNetPlan, resnet_filters, tinynet_filters


def estimate_flash_bytes(params: int, channels: int, op_count: int) -> int:
    """TFLM's flash for a model (its compact int8 flatbuffer): weights, per-channel bias and scales, per-operator
    records. Coefficients fitted by least squares on ten measured TinyNets, MobileNets and ResNets (3.5 KB–2.4 MB,
    residuals within 0.9 KB); used only to rank and prune the grid families' candidates before they are measured."""
    return int(1.0 * params + 10.1 * channels + 317 * op_count + 640)


def conv_macs(out_h: int, out_w: int, kernel: int, c_in: int, c_out: int) -> int:
    """A convolution (a dense layer is a 1x1 one on a 1x1 map): one MAC per weight per output position."""
    return out_h * out_w * kernel * kernel * c_in * c_out


def depthwise_macs(out_h: int, out_w: int, kernel: int, channels: int, kernel_w: int | None = None) -> int:
    return out_h * out_w * kernel * (kernel if kernel_w is None else kernel_w) * channels


def same_out(size: int, stride: int) -> int:
    return -(-size // stride)


@dataclass
class PlanCosts:
    params: int
    macs: int
    peak_activation_bytes: int   # int8 bytes of the largest set of tensors live at once (arena lower bound)
    op_count: int
    channels: int


def phinet_plan_costs(plan: PhiNetPlan, input_shape: tuple[int, int, int], classes: int) -> PlanCosts:
    """Parameters, MACs (same counting as `model_costs`) and int8 activation peak of a PhiNet plan."""
    h, w, c = input_shape
    params = 0
    macs = 0
    peak = 0

    def bn(ch: int) -> int:
        return 2 * ch

    # stem: depthwise 3x3 (stride 2 unless the plan keeps the resolution), pointwise, BN
    h, w = same_out(h, plan.stem_stride), same_out(w, plan.stem_stride)
    params += 9 * c + c * plan.stem_channels + bn(plan.stem_channels)
    macs += depthwise_macs(h, w, 3, c) + conv_macs(h, w, 1, c, plan.stem_channels)
    op_count, channels = 3, c + plan.stem_channels  # depthwise, pointwise, activation
    peak = max(peak, input_shape[0] * input_shape[1] * c + h * w * c, h * w * (c + plan.stem_channels))
    for b in plan.blocks:
        in_act = h * w * b.in_channels
        shortcut = in_act if b.residual else 0
        if b.block_id:
            params += b.in_channels * b.expanded + bn(b.expanded)
            macs += conv_macs(h, w, 1, b.in_channels, b.expanded)
            op_count, channels = op_count + 2, channels + b.expanded  # conv + activation
            peak = max(peak, in_act + h * w * b.expanded)
        oh, ow = same_out(h, b.stride), same_out(w, b.stride)
        params += b.kernel * b.kernel * b.expanded + bn(b.expanded)
        macs += depthwise_macs(oh, ow, b.kernel, b.expanded)
        op_count, channels = op_count + 2, channels + b.expanded
        peak = max(peak, shortcut + h * w * b.expanded + oh * ow * b.expanded)
        if b.se_channels:
            params += 2 * b.expanded * b.se_channels
            macs += 2 * b.expanded * b.se_channels + oh * ow * b.expanded
            op_count, channels = op_count + 6, channels + b.se_channels + b.expanded  # mean conv act conv sigm mul
            peak = max(peak, shortcut + 2 * oh * ow * b.expanded)
        params += b.expanded * b.out_channels + bn(b.out_channels)
        macs += conv_macs(oh, ow, 1, b.expanded, b.out_channels)
        op_count, channels = op_count + 1 + int(b.residual), channels + b.out_channels
        peak = max(peak, shortcut + oh * ow * (b.expanded + b.out_channels))
        h, w = oh, ow
    params += plan.features * classes + classes
    macs += plan.features * classes
    return PlanCosts(params=params, macs=macs, peak_activation_bytes=peak, op_count=op_count + 3,
                     channels=channels + classes)  # head: mean, conv, reshape




def resnet_costs(width: float, depth: int, input_shape: tuple[int, int, int], classes: int) -> PlanCosts:
    """Parameters, MACs (same counting as `model_costs`) and int8 activation peak of `nets.resnet(width, depth)`.
    Its convolutions keep their biases beside batch norm, as MLPerf Tiny's ResNet-8 does."""
    h, w, c = input_shape
    f0 = resnet_filters(width)[0]
    params = 9 * c * f0 + f0 + 2 * f0
    macs = conv_macs(h, w, 3, c, f0)
    peak = h * w * (c + f0)
    op_count, channels, c = 1, f0, f0
    for i, f in enumerate(resnet_filters(width)):
        for j in range(int(depth)):
            stride = 2 if i > 0 and j == 0 else 1
            oh, ow = same_out(h, stride), same_out(w, stride)
            params += 9 * c * f + 3 * f + 9 * f * f + 3 * f
            macs += conv_macs(oh, ow, 3, c, f) + conv_macs(oh, ow, 3, f, f)
            # the block's input stays live (the shortcut) while its two convolutions run
            peak = max(peak, h * w * c + 2 * oh * ow * f)
            op_count, channels = op_count + 3, channels + 2 * f
            if stride != 1:
                params += c * f + f
                macs += conv_macs(oh, ow, 1, c, f)
                op_count, channels = op_count + 1, channels + f
            h, w, c = oh, ow, f
    params += c * classes + classes
    macs += c * classes
    return PlanCosts(params=params, macs=macs, peak_activation_bytes=peak, op_count=op_count + 3,
                     channels=channels + classes)


def tinynet_costs(width: float, depth: int, input_shape: tuple[int, int, int], classes: int) -> PlanCosts:
    """Parameters, MACs (same counting as `model_costs`) and int8 activation peak of `build.tinynet(width, depth)`:
    a stride-2 3×3 convolution, then stride-2 depthwise-separable blocks, no biases beside batch norm."""
    h, w, c = input_shape
    params = macs = peak = channels = op_count = 0
    for i, f in enumerate(tinynet_filters(width, depth)):
        oh, ow = same_out(h, 2), same_out(w, 2)
        if i == 0:
            params += 9 * c * f + 2 * f
            macs += conv_macs(oh, ow, 3, c, f)
            peak = max(peak, h * w * c + oh * ow * f)
            op_count, channels = op_count + 1, channels + f
        else:
            params += 9 * c + 2 * c + c * f + 2 * f
            macs += depthwise_macs(oh, ow, 3, c) + conv_macs(oh, ow, 1, c, f)
            peak = max(peak, h * w * c + oh * ow * c, oh * ow * (c + f))
            op_count, channels = op_count + 2, channels + c + f
        h, w, c = oh, ow, f
    params += c * classes + classes
    macs += c * classes
    return PlanCosts(params=params, macs=macs, peak_activation_bytes=peak, op_count=op_count + 3,
                     channels=channels + classes)
