"""What the cycle plugin costs `verify`: ResNet-8 on the Cortex-M4F with TFLM's reference kernels (verify's default),
20 images, QEMU run with and without the plugin on the same firmware, alternately, in one process; and the whole
`verify` with it, from which the wall time without it follows (same build, same host comparison).

    .venv/bin/python bench/plugin_overhead.py [--images 20] [--repeats 3]
Writes bench/results/plugin_overhead.json. Target (issue 30): verify with the plugin at most 2x the time without.
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from latency_model import RESNET8, _flatbuffer

from tinyml_kit.check.qemu import run_firmware
from tinyml_kit.check.tflm import measure_arena
from tinyml_kit.check.verify import build_firmware, verify_model
from tinyml_kit.core.boards import get_board
from tinyml_kit.core.cores import CORES
from tinyml_kit.core.tflite_info import read_model
from tinyml_kit.export.firmware import ModelSource
from tinyml_kit.export.toolchain import find_tflm_dir

RESULT = Path(__file__).parent / "results" / "plugin_overhead.json"
BOARD = "nucleo-l4r5zi"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    flatbuffer = _flatbuffer(RESNET8)
    info, arena = read_model(flatbuffer), measure_arena(flatbuffer)
    src = ModelSource(flatbuffer, info, [str(i) for i in range(10)], arena.total_bytes, arena.alloc_bytes)
    images = np.random.default_rng(0).integers(-128, 128, (args.images, *info.inputs[0].shape[1:])).astype(np.int8)
    core = CORES["m4"]
    qemu: dict[str, list[float]] = {"with": [], "without": []}
    with tempfile.TemporaryDirectory() as tmp:
        elf = build_firmware(src, find_tflm_dir(), "ref", core, Path(tmp))
        timeout = 60 + 30 * args.images
        for _ in range(args.repeats):   # alternately, so drifting machine load hits both alike
            for mode in ("without", "with"):
                start = time.perf_counter()
                run_firmware(core, elf, images, timeout, mix=Path(tmp) / "mix.json" if mode == "with" else None)
                qemu[mode].append(time.perf_counter() - start)
    verify = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        verify_model(src, images, get_board(BOARD), core="m4")
        verify.append(time.perf_counter() - start)
    with_s, without_s = float(np.median(qemu["with"])), float(np.median(qemu["without"]))
    verify_with = float(np.median(verify))
    verify_without = verify_with - (with_s - without_s)
    result = {"model": "ResNet-8 (MLPerf Tiny IC), TFLM reference kernels", "core": core.id, "images": args.images,
              "repeats": args.repeats, "qemu_s": qemu, "qemu_ratio": round(with_s / without_s, 2),
              "verify_s_with_plugin": [round(v, 2) for v in verify], "verify_s_without_plugin_derived":
              round(verify_without, 2), "verify_ratio": round(verify_with / verify_without, 2), "target_ratio": 2.0}
    print(f"QEMU run: {without_s:.2f} s without the plugin, {with_s:.2f} s with it ({with_s / without_s:.2f}x); "
          f"verify: {verify_with:.2f} s with it, {verify_without:.2f} s without ({verify_with / verify_without:.2f}x,"
          f" target <= 2x)")
    RESULT.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {RESULT}")


if __name__ == "__main__":
    main()
