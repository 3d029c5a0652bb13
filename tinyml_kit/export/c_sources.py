"""C sources for a .tflite: an aligned const array, its length, I/O quantization, labels and arena size; and the
model API every firmware target shares (`tinyml_model.h/.cc` and the generated op resolver `tinyml_ops.h`)."""

from pathlib import Path

from tinyml_kit import __version__
from tinyml_kit.core.labels import check_labels
from tinyml_kit.core.templates import hex_rows, render
from tinyml_kit.core.text import require_identifier
from tinyml_kit.core.tflite_info import ModelInfo, require_int8
from tinyml_kit.core.tflm_flatbuffer import compact_flatbuffer
from tinyml_kit.export.op_resolver import resolver_methods


def _context(model: bytes, info: ModelInfo, labels: list[str], arena_measured: int, arena_alloc: int,
             name: str, source: str) -> dict:
    """The array holds the compact flatbuffer TFLM runs (`core.tflm_flatbuffer`), not the converter's file."""
    require_identifier(name)
    require_int8(info, source)
    output_size = info.outputs[0].sample_size
    check_labels(labels, output_size)
    device = compact_flatbuffer(model)
    return dict(
        version=__version__, source=Path(source).name, model_bytes=len(device), source_bytes=len(model), ops=info.ops,
        guard=f"TINYML_{name.upper()}_DATA_H_", prefix="" if name == "model" else f"{name}_",
        symbol=f"g_{name}_data", header=f"{name}_data.h", arena_measured=arena_measured, arena_alloc=arena_alloc,
        input=info.inputs[0], output=info.outputs[0], output_size=output_size, labels=labels,
        rows=hex_rows(device),
    )


def write_c_sources(model: bytes, info: ModelInfo, out_dir: Path, labels: list[str], arena_measured: int,
                    arena_alloc: int, name: str = "model", source: str = "model.tflite") -> list[Path]:
    """Write `<name>_data.h` and `<name>_data.cc` into `out_dir`; returns their paths."""
    context = _context(model, info, labels, arena_measured, arena_alloc, name, source)
    out_dir = Path(out_dir)
    return render(context, [("c_array/model_data.h.j2", out_dir / context["header"]),
                            ("c_array/model_data.cc.j2", out_dir / f"{name}_data.cc")])


def write_model_api(model: bytes, info: ModelInfo, out_dir: Path, labels: list[str], arena_measured: int,
                    arena_alloc: int, name: str = "model", source: str = "model.tflite",
                    cc: str = ".cc") -> list[Path]:
    """The model data plus the C++ model API and its op resolver: the sources every firmware target compiles.
    `cc` is the C++ extension (Arduino builds only `.cpp`). An op TFLM cannot run is refused here, by name."""
    context = _context(model, info, labels, arena_measured, arena_alloc, name, source)
    context["methods"] = resolver_methods(info.ops)
    out_dir = Path(out_dir)
    return render(context, [("c_array/model_data.h.j2", out_dir / context["header"]),
                            ("c_array/model_data.cc.j2", out_dir / f"{name}_data{cc}"),
                            ("model_api/tinyml_ops.h.j2", out_dir / "tinyml_ops.h"),
                            ("model_api/tinyml_model.h.j2", out_dir / "tinyml_model.h"),
                            ("model_api/tinyml_model.cc.j2", out_dir / f"tinyml_model{cc}")])
