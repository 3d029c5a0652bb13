"""One configuration of bench/engine.py: verify one .tflite on one emulated core with one engine and write what was
measured as JSON. Run as a script so the package it measures is whichever tree PYTHONPATH names: bench/engine.py
runs it on this tree for TFLM + CMSIS-NN and the C engine, and on an older checkout for the C engine as it was,
so every configuration compiles the very same .tflite and runs the very same int8 images.

    PYTHONPATH=TREE python bench/engine_run.py MODEL.tflite IMAGES.npy BOARD CORE ENGINE KERNELS|- TFLM_DIR OUT.json

Only API that every compared tree has is used (verify_model's keywords, ModelSource's fields). A refusal (the
engine does not run on that core, say) is a UserError: written as {"not_run": its line}, exit 0.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

FIELDS = ("bit_exact", "max_abs_diff", "outputs_equal_fraction", "instructions_per_inference", "elf_flash_bytes",
          "elf_ram_bytes", "stack_used_bytes", "arena_used_bytes", "arena_reserved_bytes", "arena_host_bytes")


def measure(model: Path, images: np.ndarray, board_id: str, core: str, engine_name: str, kernels: str | None,
            tflm_dir: str) -> dict:
    from tinyml_kit.check.tflm import measure_arena
    from tinyml_kit.check.verify import verify_model
    from tinyml_kit.core.boards import get_board
    from tinyml_kit.core.tflite_info import read_model
    from tinyml_kit.export.firmware import ModelSource
    from tinyml_kit.solve.engines import get_engine

    flatbuffer = model.read_bytes()
    engine = get_engine(engine_name)
    # TFLM reserves the arena the host measured; the C engine reserves its static plan and ignores these two.
    arena = measure_arena(flatbuffer) if engine_name == "tflm" else None
    src = ModelSource(flatbuffer, read_model(flatbuffer), [str(i) for i in range(10)],
                      arena.total_bytes if arena else 0, arena.alloc_bytes if arena else 0, engine=engine)
    start = time.perf_counter()
    r = verify_model(src, images, get_board(board_id), kernels=kernels, tflm_dir=tflm_dir, engine=engine, core=core)
    row = {k: getattr(r, k) for k in FIELDS}
    row["engine"], row["kernels"], row["core"], row["board"] = r.engine, r.kernels, r.core, r.board
    # The arena compared across configurations: the C engine's static plan (what its source declares), TFLM's
    # arena_used_bytes() on the device.
    row["arena_bytes"] = r.arena_host_bytes if engine_name == "c" else r.arena_used_bytes
    c = r.cycles
    row["cycles_est"] = c.cycles_est if c else None
    row["latency_ms"] = c.latency_ms if c else None
    row["clock_mhz"] = c.clock_mhz if c else None
    row["wall_time_s"] = round(time.perf_counter() - start, 1)
    return row


def main() -> None:
    from tinyml_kit.core.errors import UserError

    model, images, board, core, engine, kernels, tflm_dir, out = sys.argv[1:9]
    try:
        row = measure(Path(model), np.load(images), board, core, engine, None if kernels == "-" else kernels,
                      tflm_dir)
    except UserError as e:
        row = {"not_run": str(e)}
    Path(out).write_text(json.dumps(row, indent=1) + "\n")


if __name__ == "__main__":
    main()
