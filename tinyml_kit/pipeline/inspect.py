"""`inspect`: what a family's configuration costs before training, and what an int8 .tflite holds."""

from pathlib import Path


def inspect_arch(arch: str, input_shape: tuple[int, int, int], classes: int, **knobs) -> dict:
    """Parameters, MACs (with a per-kind breakdown) and the TFLite ops of a freshly built model."""
    from tinyml_kit.build import build
    from tinyml_kit.build.costs import model_costs

    model = build(arch, input_shape, classes, **knobs)
    costs = model_costs(model)
    result = {"arch": arch, "name": model.name, "input_shape": list(input_shape), "classes": classes,
              **costs.to_dict()}
    if arch in ("phinet", "resnet", "resnet8", "tinynet"):
        result.update(_estimates(arch, input_shape, classes, **knobs))
    return result


def _estimates(arch: str, input_shape, classes: int, **knobs) -> dict:
    """Conversion-free TFLM flash (the compact flatbuffer) and arena (see `estimate`), for the builder's defaults
    where unset."""
    import inspect as pyinspect

    from tinyml_kit.build import BUILDERS
    from tinyml_kit.core.arena import arena_with_headroom
    from tinyml_kit.solve.estimate import estimate_phinet
    from tinyml_kit.solve.solver import WIDTH_DEPTH_FAMILIES

    defaults = {k: p.default for k, p in pyinspect.signature(BUILDERS[arch]).parameters.items()}
    if arch == "phinet":
        values = {k: defaults[k] if knobs.get(k) is None else knobs[k]
                  for k in ("alpha", "beta", "t0", "depth", "divisor", "first_conv_stride", "downsampling_layers",
                            "conv5_percent")}
        e = estimate_phinet(input_shape=input_shape, classes=classes, **values)
    else:
        estimate = WIDTH_DEPTH_FAMILIES["resnet" if arch == "resnet8" else arch][1]
        e = estimate(knobs.get("alpha") or defaults.get("width", 1.0), knobs.get("depth") or defaults.get("depth", 1),
                     input_shape, classes)
    return {"flash_bytes_est": e.flash_bytes_est, "arena_bytes_est": e.arena_bytes_est,
            "arena_alloc_bytes_est": arena_with_headroom(e.arena_bytes_est)}


def inspect_tflite(path: str | Path) -> dict:
    """File size, TFLM-measured arena, ops and I/O of an int8 .tflite."""
    from tinyml_kit.check.tflm import measure_arena
    from tinyml_kit.core.tflite_info import read_model_file, require_int8
    from tinyml_kit.core.tflm_flatbuffer import tflm_flash_bytes

    data, info = read_model_file(path)
    require_int8(info, str(path))
    arena = measure_arena(data)
    return {"model": str(path), "flash_bytes": tflm_flash_bytes(data), "tflite_bytes": info.size_bytes,
            "arena_bytes": arena.total_bytes,
            "arena_alloc_bytes": arena.alloc_bytes, "ops": info.ops, "op_count": info.op_count,
            "inputs": [vars(t) for t in info.inputs], "outputs": [vars(t) for t in info.outputs]}
