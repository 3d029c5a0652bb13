"""Cortex-M33 silicon references: TFLM + CMSIS-NN on an NXP FRDM-MCXN947, and the same models through `verify`
on the emulated Cortex-M33 (QEMU mps2-an505).

The board figures are DWT cycles per inference published in shanemmattner/embedded-agent-bridge: Zephyr's
tflite-micro module with `CONFIG_TENSORFLOW_LITE_MICRO_CMSIS_NN_KERNELS=y`, built by arm-zephyr-eabi-gcc 12.2.0
(Zephyr SDK 0.17.0) at Zephyr's default `-Os` (and once at `-O2`), code and model in on-chip flash. The firmware
(`examples/mcxn947-ml-bench/src/main.cpp`) times a loop of `Invoke()` calls after one warm-up call: 100 for sine,
10 for person_detect, 100 for micro_speech, input all zeros except sine, whose loop also quantizes one float per
call (a few dozen cycles inside the window). `verify` times exactly `tinyml::Run()` (= `Invoke()`) per input
under QEMU and reports instructions; the ratio published cycles / instructions is what a cycle model for the M33
must reproduce.

Two published runs disagree on person_detect: 26,316,498 cycles in `docs/ml-bench-results.md` (2026-02-23) and
11,526,407 after a change to the DWT code (`docs/ml-benchmark-comparison.md`, 2026-02-24); sine and micro_speech
moved by under 1 %. Every figure is kept as published, and the ratio says which of them is consistent.

Models (never in the repository): a directory given by --models or $TINYML_M33_MODELS holding
  person_detect.tflite  tensorflow/tflite-micro `tensorflow/lite/micro/models/person_detect.tflite`
  micro_speech.tflite   tensorflow/tflite-micro `.../examples/micro_speech/models/micro_speech_quantized.tflite`
  sine.tflite           Zephyr's `samples/modules/tflite-micro/hello_world/src/model.cpp` (2,488 B; TFLM's own
                        hello_world_int8.tflite is a later 2,704 B retraining), from its C array with
                        `tflm_m33.py --from-c-array model.cpp DIR/sine.tflite`
the first two byte-identical at TFLM 90b983c2 and at the Zephyr module's pin (zephyrproject-rtos/tflite-micro
8d404de7). Each file's SHA-256 is checked against the bytes the board ran (its C arrays in the same repository).

    PYTHONPATH=. .venv/bin/python bench/references/tflm_m33.py --models DIR [--tflm-dir DIR] [--images 3]

Prints and writes bench/results/tflm_m33.json. bench/references/microtvm_m33.py holds a second, independent M33
reference (MLPerf Tiny, microTVM + CMSIS-NN on an nRF5340) measured the same way.
"""

import argparse
import hashlib
import json
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from tinyml_kit.check.tflm import measure_arena
from tinyml_kit.check.verify import verify_model
from tinyml_kit.core.boards import get_board
from tinyml_kit.core.errors import UserError
from tinyml_kit.core.tflite_info import TensorInfo, model_object, read_model, require_int8
from tinyml_kit.core.verification import VerifyResult
from tinyml_kit.export.firmware import ModelSource

RESULT = Path(__file__).resolve().parents[1] / "results" / "tflm_m33.json"
DEFAULT_TFLM = Path(__file__).resolve().parents[3] / "shared" / "third_party" / "tflm-qemu"
MODELS_ENV = "TINYML_M33_MODELS"
CORE = "m33"
BOARD = "nucleo-u575zi-q"   # verify's only use of it: the flash/RAM verdict, which is not reported here

REPO = "shanemmattner/embedded-agent-bridge"
COMPARISON = f"{REPO} docs/ml-benchmark-comparison.md (commit 4a6e724; data of 2026-02-24)"
EARLY = f"{REPO} docs/ml-bench-results.md (commit c98d5d6, 2026-02-23; DWT code before 19519d5)"
BOARD_CONDITIONS = (
    "FRDM-MCXN947 (MCXN947, Cortex-M33 + DSP + FPv5) at 150 MHz from PLL0 in overdrive (1.2 V); code and model "
    "in on-chip flash with FMU0 FCTRL.RWSC=3 (Zephyr boards/nxp/frdm_mcxn947/board.c) and the LPCAC flash cache "
    "enabled (hal_nxp SystemInit, called from soc_reset_hook), arena in SRAM; Zephyr v4.3.0-6019-gef798176ad4c, "
    "tflite-micro module zephyrproject-rtos/tflite-micro 8d404de7 (upstream ef645912, 2025-02-07) with CMSIS-NN "
    "kernels (the cmsis-nn module of the same day is zephyrproject-rtos/cmsis-nn e9328d6 = CMSIS-NN of 2024-11-11; "
    "the pin at that Zephyr SHA is unconfirmed), arm-zephyr-eabi-gcc 12.2.0 (Zephyr SDK 0.17.0), whole firmware "
    "at {opt}; DWT CYCCNT around "
    "{n} Invoke() after one warm-up call, divided by {n}")


@dataclass(frozen=True)
class Model:
    """One published model: the file the board ran, and how `verify` is fed it."""
    name: str                          # file stem in the models directory
    sha256: str                        # of the bytes in the board firmware's C array
    labels: tuple[str, ...]
    as_image: tuple[int, int, int]     # the input as H x W x C for the model API: the same bytes, in order
    inferences: int                    # per timed loop on the board
    inputs: Callable[[TensorInfo, int], np.ndarray]


def zeros(tensor: TensorInfo, images: int) -> np.ndarray:
    """The board's input: `memset(input, 0, bytes)`."""
    return np.zeros((images, tensor.sample_size), np.int8)


def sine_inputs(tensor: TensorInfo, images: int) -> np.ndarray:
    """The board's 100 inputs: x = i / 100 * 6.28318 quantized in float and truncated by the int8 cast, as the
    C loop does (`images` is ignored: the window is these 100)."""
    x = np.arange(100, dtype=np.float32) / np.float32(100) * np.float32(6.28318)
    q = x / np.float32(tensor.scale) + np.float32(tensor.zero_point)
    return np.trunc(q).astype(np.int8).reshape(-1, 1)


MODELS = {m.name: m for m in (
    Model("sine", "b8ba5f16b2427f043058c4ee9d22558dc31a7f162a0e2f053712118088d524dc", ("y",), (1, 1, 1), 100,
          sine_inputs),
    Model("person_detect", "808cfdfc0cf3a6fa6f6fa26bfa379ea97c16d5db7334637766e39c3408502e9d",
          ("no_person", "person"), (96, 96, 1), 10, zeros),
    Model("micro_speech", "09e5e2a9dfb2d8ed78802bf18ce297bff54281a66ca18e0c23d69ca14f822a83",
          ("silence", "unknown", "yes", "no"), (49, 40, 1), 100, zeros),
)}


@dataclass(frozen=True)
class Reference:
    """A published cycle count on silicon (the fields of bench/references/harness.py's `Reference`, plus which
    model file it ran and what the window held)."""
    name: str
    core: str
    source: str
    conditions: str
    published_cycles: int
    model: str
    window: str


def _references(tag: str, source: str, opt: str, cycles: dict[str, int]) -> list[Reference]:
    return [Reference(f"tflm-cmsis-nn/{name}/mcxn947/{tag}", CORE, source,
                      BOARD_CONDITIONS.format(opt=opt, n=MODELS[name].inferences), count, name,
                      "Invoke() per inference (TFLM interpreter + CMSIS-NN kernels)")
            for name, count in cycles.items()]


REFERENCES = (
    _references("Os", COMPARISON, "-Os", {"sine": 4_813, "person_detect": 11_526_407, "micro_speech": 1_705_940})
    + _references("O2", COMPARISON, "-O2", {"sine": 4_475, "person_detect": 11_595_389, "micro_speech": 1_705_633})
    + _references("Os-early", EARLY, "-Os", {"sine": 4_814, "person_detect": 26_316_498, "micro_speech": 1_716_853}))


def c_array_bytes(text: str) -> bytes:
    """The bytes of the first `{ 0x.., ... }` initializer in C source written by `xxd -i`."""
    body = text[text.index("{") + 1:text.index("}")]
    return bytes(int(h, 16) for h in re.findall(r"0x([0-9a-fA-F]{2})", body))


def host_loadable(model: bytes) -> bytes:
    """`model` with each tensor's quantized_dimension inside its rank. person_detect's 14 depthwise biases (rank 1)
    carry 3, copied from their filters; LiteRT refuses such a file ("quantized_dimension must be in range"), so
    verify's host comparison could not load it. TFLM's kernels never read a bias's quantized_dimension (its
    allocator copies it; only compressed tensors consult it), so the firmware runs the same instructions."""
    import flatbuffers

    tree = model_object(model)
    changed = False
    for subgraph in tree.subgraphs or []:
        for tensor in subgraph.tensors or []:
            q, rank = tensor.quantization, len(tensor.shape if tensor.shape is not None else [])
            if q is not None and rank and q.quantizedDimension >= rank:
                q.quantizedDimension, changed = 0, True
    if not changed:
        return model
    builder = flatbuffers.Builder(len(model))
    builder.Finish(tree.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def model_source(model: Model, data: bytes) -> ModelSource:
    """What `verify` builds the firmware from. The model API takes an H x W x C input (the templates name its
    height, width and channels); sine's [1, 1] and micro_speech's [1, 1960] are given as that view of the same
    bytes, which changes no tensor of the flatbuffer TFLM runs."""
    flatbuffer = host_loadable(data)
    info = read_model(flatbuffer, model.name)
    require_int8(info, model.name)
    view = replace(info, inputs=[replace(info.inputs[0], shape=[1, *model.as_image])])
    if view.inputs[0].sample_size != info.inputs[0].sample_size:
        raise UserError(f"{model.name}: an input of {info.inputs[0].shape} is not {model.as_image}: pass the "
                        f"published model")
    arena = measure_arena(flatbuffer)
    return ModelSource(flatbuffer, view, list(model.labels), arena.total_bytes, arena.alloc_bytes,
                       name="model", source=f"{model.name}.tflite")


def measure(model: Model, data: bytes, tflm_dir: str, images: int) -> VerifyResult:
    """`verify` of the model on the emulated Cortex-M33 with TFLM's CMSIS-NN kernels, on the board's inputs."""
    src = model_source(model, data)
    inputs = model.inputs(src.info.inputs[0], images)
    return verify_model(src, inputs, get_board(BOARD), kernels="cmsis_nn", tflm_dir=tflm_dir, core=CORE)


@dataclass(frozen=True)
class Window:
    """What the emulated core measured over one Invoke(): the number compared with the board's cycles."""
    instructions: int                  # median over the inputs
    instructions_range: list[int]
    cycles_est: int | None             # verify's cycle estimate, where its result carries one


def measured_window(result: VerifyResult) -> Window:
    """The one place a verify result becomes the measured number of a reference."""
    return Window(result.instructions_per_inference, list(result.instructions_range),
                  result.cycles.cycles_est if result.cycles is not None else None)


def compare(ref: Reference, window: Window) -> dict:
    """A reference beside the emulated window: published cycles per instruction (and per estimated cycle)."""
    row = {**asdict(ref), "measured": asdict(window),
           "published_cycles_per_instruction": round(ref.published_cycles / window.instructions, 3)}
    if window.cycles_est:
        row["published_over_cycles_est"] = round(ref.published_cycles / window.cycles_est, 3)
    return row


def models_dir(given: str | None) -> Path:
    """--models, else $TINYML_M33_MODELS; a directory with every model, or one line on what is missing."""
    where = given or os.environ.get(MODELS_ENV)
    if not where:
        raise UserError(f"no models directory: pass --models DIR or set {MODELS_ENV} (this module's docstring "
                        f"says where each .tflite comes from)")
    missing = [f"{name}.tflite" for name in MODELS if not (Path(where) / f"{name}.tflite").is_file()]
    if missing:
        raise UserError(f"{where} lacks {', '.join(missing)}: this module's docstring says where each comes from")
    return Path(where)


def run(directory: Path, tflm_dir: str, images: int) -> dict:
    """Every model through verify, every reference beside its model's window."""
    files, verified, windows = {}, {}, {}
    for model in MODELS.values():
        data = (directory / f"{model.name}.tflite").read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        files[model.name] = {"bytes": len(data), "sha256": digest, "published_model": digest == model.sha256}
        if digest != model.sha256:
            print(f"warning: {model.name}.tflite is not the model the board ran (SHA-256 {digest[:12]}..., "
                  f"expected {model.sha256[:12]}...)", file=sys.stderr)
        start = time.perf_counter()
        result = measure(model, data, tflm_dir, images)
        verified[model.name] = {**result.to_dict(), "wall_time_s": round(time.perf_counter() - start, 1)}
        windows[model.name] = measured_window(result)
    rows = [compare(ref, windows[ref.model]) for ref in REFERENCES]
    return {"command": f"bench/references/tflm_m33.py --images {images}", "core": CORE, "kernels": "cmsis_nn",
            "tflm_library": build_info(tflm_dir), "models": files, "references": rows, "verify": verified}


def build_info(tflm_dir: str) -> str:
    """How the TFLM library verify linked was built (compiler, flags), as its BUILDINFO.txt says."""
    info = Path(tflm_dir) / "prebuilt" / "cortex-m33" / "BUILDINFO.txt"
    return " / ".join(info.read_text().split("\n")[:2]) if info.is_file() else "unknown"


def _summary(result: dict) -> list[str]:
    lines = [f"{'reference':46} {'published':>12} {'instructions':>13} {'cyc/instr':>9}"]
    for row in result["references"]:
        lines.append(f"{row['name']:46} {row['published_cycles']:>12,} {row['measured']['instructions']:>13,} "
                     f"{row['published_cycles_per_instruction']:>9.3f}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", help=f"Directory with the three .tflite files (default: ${MODELS_ENV}).")
    parser.add_argument("--tflm-dir", default=str(DEFAULT_TFLM))
    parser.add_argument("--images", type=int, default=3, help="Inputs per zero-input model (sine runs its 100).")
    parser.add_argument("--from-c-array", nargs=2, metavar=("SOURCE", "TFLITE"),
                        help="Write the bytes of an `xxd -i` C array (e.g. Zephyr's hello_world model.cpp) and stop.")
    args = parser.parse_args()
    try:
        if args.from_c_array:
            source, out = map(Path, args.from_c_array)
            out.write_bytes(c_array_bytes(source.read_text()))
            print(f"{out}: {out.stat().st_size:,} bytes")
            return
        result = run(models_dir(args.models), args.tflm_dir, args.images)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    RESULT.parent.mkdir(exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    print("\n".join(_summary(result)))


if __name__ == "__main__":
    main()
