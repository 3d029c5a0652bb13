"""The C engine on the Cortex-M55 (QEMU mps3-an547, CMSIS-NN's Helium kernels) beside TFLM + CMSIS-NN, on the
models of bench/engine.py: bit-exactness with LiteRT, the static plan for each kernel family, the solver's
estimate of it from the graph, every scratch buffer against CMSIS-NN's own `*_mve` size functions, and
instructions and estimated cycles per inference. Prints a table and writes bench/results/engine_m55.json.

    .venv/bin/python bench/engine_m55.py [--images 100] [--models resnet8,...] [--tflite-dir DIR]

--tflite-dir reads NAME.tflite from DIR instead of building the models (bench/engine.py's builders).
TFLM gets twice the arena its host measurement reserves: on the M55 its CMSIS-NN kernels ask more scratch than
the host's reference kernels measure (on the TinyNets beyond the headroom), and that is not what is compared here.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
from engine import MODELS, SHARED, int8_model

RESULT = Path(__file__).parent / "results" / "engine_m55.json"
BOARD = "stm32n6570-dk"   # the Cortex-M55 board: its memory data times the cycles


def plans(flatbuffer: bytes, cmsis_nn: Path) -> dict:
    """Per kernel family: the plan, the solver's estimate of it, and the scratch CMSIS-NN asks beside the plan's."""
    from tinyml_kit.check.c_scratch import family_scratch_sizes
    from tinyml_kit.core.cores import KernelFamily
    from tinyml_kit.core.tflite_info import read_graph
    from tinyml_kit.engine.codegen import compile_model
    from tinyml_kit.solve.c_size import c_engine_costs

    out = {}
    for family in KernelFamily:
        program = compile_model(flatbuffer, family=family)
        sizes = family_scratch_sizes(program, cmsis_nn)
        out[family.value] = {"arena_bytes": program.arena_bytes,
                             "estimate_bytes": c_engine_costs(read_graph(flatbuffer), family).arena_bytes,
                             "scratch_planned": sum(s.planned for s in sizes),
                             "scratch_asked": sum(s.asked for s in sizes),
                             "scratch_differs": [(s.op, s.kind, s.planned, s.asked) for s in sizes
                                                 if s.planned != s.asked]}
    return out


def on_m55(flatbuffer: bytes, images: np.ndarray, tflm_dir: str) -> dict:
    from tinyml_kit.check.tflm import measure_arena
    from tinyml_kit.check.verify import verify_model
    from tinyml_kit.core.boards import get_board
    from tinyml_kit.core.tflite_info import read_model
    from tinyml_kit.export.firmware import ModelSource

    info = read_model(flatbuffer)
    arena = measure_arena(flatbuffer)
    x = info.inputs[0].quantize(images.astype(np.float32))
    row = {}
    for engine, kernels, arena_bytes in (("tflm", "cmsis_nn", 2 * arena.alloc_bytes), ("c", None, None)):
        src = ModelSource(flatbuffer, info, [str(i) for i in range(10)], arena.total_bytes, arena.alloc_bytes)
        start = time.perf_counter()
        r = verify_model(src, x, get_board(BOARD), kernels=kernels, tflm_dir=tflm_dir, engine=engine, core="m55",
                         arena_bytes=arena_bytes)
        row[engine] = {k: getattr(r, k) for k in ("bit_exact", "max_abs_diff", "elf_flash_bytes", "arena_used_bytes",
                                                  "arena_reserved_bytes", "instructions_per_inference")}
        row[engine]["cycles_est"] = r.cycles.cycles_est if r.cycles else None
        row[engine]["wall_time_s"] = round(time.perf_counter() - start, 1)
    return row


def main() -> None:
    from tinyml_kit.export.toolchain import find_cmsis_nn_dir

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--tflite-dir", type=Path)
    parser.add_argument("--tflm-dir", default=str(SHARED / "third_party" / "tflm-qemu"))
    args = parser.parse_args()
    cmsis_nn = find_cmsis_nn_dir(None, args.tflm_dir)
    pixels = np.load(SHARED / "datasets" / "cifar10-5k.npz")["x"]
    rows = []
    for name in (n for n in args.models.split(",") if n):
        flatbuffer = ((args.tflite_dir / f"{name}.tflite").read_bytes() if args.tflite_dir
                      else int8_model(*MODELS[name], pixels))
        row = {"model": name, "plans": plans(flatbuffer, cmsis_nn), **on_m55(flatbuffer, pixels[-args.images:],
                                                                               args.tflm_dir)}
        rows.append(row)
        mve, c, t = row["plans"]["mve"], row["c"], row["tflm"]
        print(f"{name:<20} bit-exact c {c['bit_exact']} tflm {t['bit_exact']}  arena c {c['arena_used_bytes']:,} "
              f"(plan {mve['arena_bytes']:,}, est {mve['estimate_bytes']:,}, dsp plan "
              f"{row['plans']['dsp']['arena_bytes']:,}; scratch {mve['scratch_planned']:,} / asked "
              f"{mve['scratch_asked']:,}) tflm {t['arena_used_bytes']:,}  instr c {c['instructions_per_inference']:,}"
              f" tflm {t['instructions_per_inference']:,}  cycles c {c['cycles_est']:,} tflm {t['cycles_est']:,}",
              flush=True)
    RESULT.parent.mkdir(exist_ok=True)
    RESULT.write_text(json.dumps({"images": args.images, "board": BOARD, "core": "m55 (QEMU mps3-an547)",
                                  "models": rows}, indent=2) + "\n")
    print(f"wrote {RESULT}")


if __name__ == "__main__":
    main()
