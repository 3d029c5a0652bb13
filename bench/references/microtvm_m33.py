"""A second Cortex-M33 silicon reference: MLPerf Tiny v1.0 (closed division), OctoML's microTVM + CMSIS-NN
submission on a Nordic nRF5340 DK, rebuilt from its published sources for the emulated Cortex-M33.

The submission (mlcommons/tiny_results_v1.0 `closed/OctoML/code/microtvm_cmsis_nn/NRF5340DK/{kws,vww,ic,ad}`)
carries everything its firmware compiled: the C that microTVM generated (`model/codegen/host/src/*.c`, AOT
executor, calls into CMSIS-NN), TVM's C runtime (`crt/`) and the harness. Its system description pins CMSIS_5
51263182 (CMSIS-NN of 2022-08-31), Zephyr 2.7.3 and Zephyr SDK 0.13.2 (arm-zephyr-eabi-gcc 10.3), `prj.conf`
sets CONFIG_SPEED_OPTIMIZATIONS (-O2 for the application, CMSIS-NN included), and the application core runs at
128 MHz from flash. EEMBC's runner times `th_infer()` = `tvmgen_default_run()` over 200 inferences per window
after warm-up (`ee_infer`, timestamps from k_uptime_get() in ms); the published figure is the median throughput,
so cycles per inference = 128 MHz / throughput (the loop and Zephyr's tick interrupts included, input
preparation not). Krai reran the same code on another nRF5340 DK for v1.1 (`closed/Krai`, same TVM, CMSIS_5 and
Zephyr pins): within 0.5 % of every figure, so both rounds are kept as references.

Here the generated C and CMSIS-NN are compiled with Debian's arm-none-eabi-gcc 12.2 at -O2 and driven by
verify's own runner (firmware_templates/qemu/verify_main.cc) through a small adapter (bench/references/microtvm/),
which times exactly one `tvmgen_default_run()` per input, as verify times Run(). Inputs are zeros.

Sources, never in the repository, found by option or environment variable:
  --submission DIR or $TINYML_OCTOML_NRF5340_DIR: the NRF5340DK folder above (`git archive` of the repository)
  --cmsis5 DIR or $TINYML_CMSIS5_DIR: ARM-software/CMSIS_5 at 51263182 (CMSIS/NN and CMSIS/Core/Include)

    PYTHONPATH=. .venv/bin/python bench/references/microtvm_m33.py [--images 2]

Prints and writes bench/results/microtvm_m33.json.
"""

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from bench.references.tflm_m33 import CORE, Reference, Window, compare
from tinyml_kit.check.plugin import inference_windows, read_mix
from tinyml_kit.check.qemu import compile_for_qemu, harness, link_for_qemu, parse_run, run_firmware
from tinyml_kit.core.cores import EmulatedCore, require_core
from tinyml_kit.core.errors import UserError
from tinyml_kit.export.toolchain import cmsis_nn_library, require_tool

RESULT = Path(__file__).resolve().parents[1] / "results" / "microtvm_m33.json"
ADAPTER = Path(__file__).resolve().parent / "microtvm"
SUBMISSION_ENV, CMSIS5_ENV = "TINYML_OCTOML_NRF5340_DIR", "TINYML_CMSIS5_DIR"
CLOCK_HZ = 128_000_000
SOURCES = {  # the submission, and Krai's rerun of the same code (same TVM, CMSIS_5 and Zephyr) a round later
    "v1.0": ("mlcommons/tiny_results_v1.0 closed/OctoML (commit c7761cf): code/microtvm_cmsis_nn/NRF5340DK/{name}, "
             "results/microtvm_cmsis_nn/NRF5340-DK/{name}/performance/results.txt"),
    "v1.1": ("mlcommons/tiny_results_v1.1 closed/Krai: systems/NRF5340-DK_MICROTVM-CMSIS-NN.json, "
             "results/NRF5340-DK_MICROTVM-CMSIS-NN/{name}/performance/results.txt"),
}
CONDITIONS = (
    "nRF5340 DK application core (Cortex-M33 + DSP + FPU) at 128 MHz, code and weights in on-chip flash with "
    "the instruction cache on (Zephyr's CONFIG_NRF_ENABLE_ICACHE, default y), Zephyr 2.7.3, Zephyr SDK 0.13.2 "
    "(GCC 10.3), CONFIG_SPEED_OPTIMIZATIONS (-O2), CMSIS_5 51263182, TVM e3a6cb6a AOT; EEMBC ee_infer: 200 "
    "th_infer() per window after warm-up, median of 5 windows = {throughput} inferences/s, cycles = 128 MHz / "
    "throughput")
C_FLAGS = ["-O2", "-ffunction-sections", "-fdata-sections", "-Wno-unused-variable"]


@dataclass(frozen=True)
class Benchmark:
    """One model of the submission: its buffers (from its CMakeLists.txt and output_data.h) and throughput."""
    name: str
    input_bytes: int      # MAX_DB_INPUT_SIZE
    output_bytes: int     # output_data[] (the anomaly detector's is 640 floats)
    workspace: int        # WORKSPACE_SIZE, the pool TVMBackendAllocWorkspace draws from
    throughput: dict[str, float]   # median inferences per second, as published in each round (SOURCES)


BENCHMARKS = (Benchmark("kws", 490, 12, 17_744, {"v1.0": 13.143, "v1.1": 13.074}),
              Benchmark("vww", 27_648, 2, 65_312, {"v1.0": 4.310, "v1.1": 4.286}),
              Benchmark("ic", 3_072, 10, 66_624, {"v1.0": 3.163, "v1.1": 3.146}),
              Benchmark("ad", 2_560, 2_560, 1_672, {"v1.0": 159.579, "v1.1": 159.020}))


def references(bench: Benchmark) -> list[Reference]:
    return [Reference(f"mlperf-tiny-{round_}/microtvm-cmsis-nn/{bench.name}/nrf5340", CORE,
                      SOURCES[round_].format(name=bench.name), CONDITIONS.format(throughput=throughput),
                      round(CLOCK_HZ / throughput), bench.name,
                      "tvmgen_default_run() per inference (microTVM AOT + CMSIS-NN, CRT stack allocator)")
            for round_, throughput in bench.throughput.items()]


def source_dir(given: str | None, env: str, what: str, needed: str) -> Path:
    """An option, else its environment variable: a directory holding `needed`, or one line saying what to pass."""
    where = given or os.environ.get(env)
    if not where or not (Path(where) / needed).exists():
        raise UserError(f"{what} not found{f' in {where}' if where else ''}: pass its directory or set {env} "
                        f"(this module's docstring says where it comes from)")
    return Path(where)


def build(bench: Benchmark, submission: Path, cmsis5: Path, core: EmulatedCore, out: Path) -> Path:
    """The submission's generated C, TVM's stack allocator and CMSIS-NN 51263182 at -O2, with verify's runner."""
    model = submission / bench.name
    cmsis_core = cmsis5 / "CMSIS" / "Core" / "Include"
    includes = [f"-I{d}" for d in (model / "model" / "codegen" / "host" / "include", model / "crt_config",
                                   model / "crt" / "include", cmsis5 / "CMSIS" / "NN" / "Include", cmsis_core)]
    generated = sorted((model / "model" / "codegen" / "host" / "src").glob("*.c"))
    allocator = model / "crt" / "src" / "runtime" / "crt" / "memory" / "stack_allocator.c"
    objects = compile_for_qemu(core, [*generated, allocator], out, c_flags=[*C_FLAGS, *includes])
    runner, defines = harness(core, out)
    shutil.copy(ADAPTER / "tinyml_model.h", out / "tinyml_model.h")
    sizes = [f"-DMICROTVM_WORKSPACE_BYTES={bench.workspace}", f"-DMICROTVM_INPUT_BYTES={bench.input_bytes}",
             f"-DMICROTVM_OUTPUT_BYTES={bench.output_bytes}"]
    objects += compile_for_qemu(core, [*runner, ADAPTER / "model_api.cc"], out,
                                ["-DTINYML_ENGINE_C", *defines, *sizes, *includes])
    library = cmsis_nn_library(cmsis5 / "CMSIS" / "NN", require_tool("arm-none-eabi-gcc"),
                               [*core.gcc_flags, "-O2", "-ffunction-sections", "-fdata-sections", f"-I{cmsis_core}"],
                               f"{core.prebuilt}-cmsis5-51263182")
    return link_for_qemu(core, objects, [library], out)


def measure(bench: Benchmark, submission: Path, cmsis5: Path, images: int) -> tuple[Window, dict]:
    """Instructions per tvmgen_default_run() on the emulated Cortex-M33, and what the run printed of itself."""
    core = require_core(CORE, None)
    with tempfile.TemporaryDirectory(prefix="tinyml_microtvm_") as tmp:
        elf = build(bench, submission, cmsis5, core, Path(tmp))
        printed = run_firmware(core, elf, np.zeros((images, bench.input_bytes), np.int8), timeout=600,
                               mix=Path(tmp) / "mix.json")
        mix = read_mix(Path(tmp) / "mix.json")
    run = parse_run(printed, images, lambda: f"the {bench.workspace:,} B workspace pool is too small")
    cycles = [whole.cycles for whole, _ in inference_windows(mix, images)]
    window = Window(int(np.median(run.instructions)), [min(run.instructions), max(run.instructions)],
                    int(round(np.median(cycles))))
    return window, {"images": images, "stack_used_bytes": run.stack, "outputs_first": run.outputs[0][:12].tolist()}


def run_all(submission: Path, cmsis5: Path, images: int) -> dict:
    rows, runs = [], {}
    for bench in BENCHMARKS:
        start = time.perf_counter()
        window, runs[bench.name] = measure(bench, submission, cmsis5, images)
        runs[bench.name]["wall_time_s"] = round(time.perf_counter() - start, 1)
        rows += [compare(ref, window) for ref in references(bench)]
    return {"command": f"bench/references/microtvm_m33.py --images {images}", "core": CORE,
            "compiler": "arm-none-eabi-gcc 12.2 -O2 (published: arm-zephyr-eabi-gcc 10.3 -O2)",
            "benchmarks": [asdict(b) for b in BENCHMARKS], "references": rows, "runs": runs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submission", help=f"The NRF5340DK folder of the submission (default: ${SUBMISSION_ENV}).")
    parser.add_argument("--cmsis5", help=f"CMSIS_5 at 51263182 (default: ${CMSIS5_ENV}).")
    parser.add_argument("--images", type=int, default=2, help="Zero inputs per model.")
    args = parser.parse_args()
    try:
        submission = source_dir(args.submission, SUBMISSION_ENV, "the OctoML NRF5340DK submission",
                                "kws/model/codegen/host/src")
        cmsis5 = source_dir(args.cmsis5, CMSIS5_ENV, "CMSIS_5", "CMSIS/NN/Include/arm_nnfunctions.h")
        result = run_all(submission, cmsis5, args.images)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(1)
    RESULT.parent.mkdir(exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    for row in result["references"]:
        print(f"{row['name']:52} {row['published_cycles']:>12,} {row['measured']['instructions']:>13,} "
              f"{row['published_cycles_per_instruction']:>7.3f}")


if __name__ == "__main__":
    main()
