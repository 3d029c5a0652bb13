"""One configuration of bench/engine.py: verify one .tflite on one emulated core with one engine and write what was
measured as JSON. Run as a script so the package it measures is whichever tree PYTHONPATH names: bench/engine.py
runs it on this tree for TFLM + CMSIS-NN and the C engine, and on an older checkout for the C engine as it was,
so every configuration compiles the very same .tflite and runs the very same int8 images.

    PYTHONPATH=TREE python bench/engine_run.py MODEL.tflite IMAGES.npy BOARD CORE ENGINE KERNELS|- TFLM_DIR OUT.json

Only API that every compared tree has is used (verify_model's keywords, ModelSource's fields). A refusal (the
engine does not run on that core, say) is a UserError: written as {"not_run": its line}, exit 0. TFLM refused for
its arena (its M55 kernels take more scratch than the host measured) runs again with four times the host's arena,
noted in "arena_note"; its arena_used_bytes is what it took.
"""

import json
import sys
import time
from pathlib import Path

import numpy as np

FIELDS = ("bit_exact", "max_abs_diff", "outputs_equal_fraction", "instructions_per_inference", "elf_flash_bytes",
          "elf_ram_bytes", "stack_used_bytes", "arena_used_bytes", "arena_reserved_bytes", "arena_host_bytes")


def measure(model: Path, images: np.ndarray, board_id: str, core: str, engine_name: str, kernels: str | None,
            tflm_dir: str, arena_bytes: int | None = None) -> dict:
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
    r = verify_model(src, images, get_board(board_id), kernels=kernels, tflm_dir=tflm_dir, engine=engine, core=core,
                     arena_bytes=arena_bytes)
    row = {k: getattr(r, k) for k in FIELDS}
    row["engine"], row["kernels"], row["core"], row["board"] = r.engine, r.kernels, r.core, r.board
    # The arena compared across configurations: the C engine's static plan (what its source declares), TFLM's
    # arena_used_bytes() on the device.
    row["arena_bytes"] = r.arena_host_bytes if engine_name == "c" else r.arena_used_bytes
    row["ram_constant_bytes"] = getattr(r, "ram_constant_bytes", 0)   # of elf_ram_bytes: weights copied to RAM
    c = r.cycles
    row["cycles_est"] = c.cycles_est if c else None
    row["latency_ms"] = c.latency_ms if c else None
    row["clock_mhz"] = c.clock_mhz if c else None
    row["wall_time_s"] = round(time.perf_counter() - start, 1)
    return row


def measure_arena_bytes(model: Path) -> int:
    from tinyml_kit.check.tflm import measure_arena

    return measure_arena(model.read_bytes()).alloc_bytes


def main() -> None:
    from tinyml_kit.core.errors import UserError

    model, images, board, core, engine, kernels, tflm_dir, out = sys.argv[1:9]
    args = (Path(model), np.load(images), board, core, engine, None if kernels == "-" else kernels, tflm_dir)
    try:
        try:
            row = measure(*args)
        except UserError as e:
            if not (engine == "tflm" and "tensor arena" in str(e)):
                raise
            # TFLM's kernels for some cores (the M55's MVE ones) take more scratch than the host measured: what is
            # compared is the engine, so it gets room, and arena_used_bytes says what it took.
            row = measure(*args, arena_bytes=4 * measure_arena_bytes(args[0]))
            row["arena_note"] = f"the host's arena was too small here: {e}"
    except UserError as e:
        row = {"not_run": str(e)}
    Path(out).write_text(json.dumps(row, indent=1) + "\n")


if __name__ == "__main__":
    main()
