"""Code bytes each op outside the fitted code model adds to the C engine's tinyml_model.c (solve/c_size.py
OP_CODE_BYTES): for the small graphs of tests/test_c_engine_ops.py and tests/test_c_engine_reduce.py, the .text
of the generated file compiled for the Cortex-M4F as `verify` compiles it (arm-none-eabi-gcc, -Os), minus that of
the same file without the op's step and the C functions generated for it. Prints one line per graph and writes
bench/results/op_code_bytes.json.

    TINYML_TFLM_DIR=... PYTHONPATH=$PWD python bench/op_code_bytes.py
"""

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import test_c_engine_ops as graphs  # noqa: E402
import test_c_engine_reduce as reductions  # noqa: E402
from test_c_engine import int8_model  # noqa: E402

from tinyml_kit.check.verify import ENGINE_C_FLAGS  # noqa: E402
from tinyml_kit.engine.codegen import compile_model  # noqa: E402
from tinyml_kit.export.toolchain import find_cmsis_nn_dir  # noqa: E402

M4 = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"]


def text_bytes(source: Path) -> int:
    """The .text sections of `source` compiled (warnings not fatal: the stripped file leaves constants unused)."""
    obj = source.with_suffix(".o")
    flags = [f for f in ENGINE_C_FLAGS if f != "-Werror"]
    subprocess.run(["arm-none-eabi-gcc", *flags, *M4, "-I", str(source.parent), "-isystem",
                    str(find_cmsis_nn_dir() / "Include"), "-c", str(source), "-o", str(obj)], check=True,
                   capture_output=True)
    sizes = subprocess.run(["arm-none-eabi-size", "-A", str(obj)], capture_output=True, text=True, check=True).stdout
    return sum(int(line.split()[1]) for line in sizes.splitlines() if line.startswith(".text"))


def op_bytes(kind: str, build, shape: tuple) -> int:
    program = compile_model(int8_model(build, shape=shape))
    out = Path(tempfile.mkdtemp())
    program.write(out, [str(i) for i in range(program.model.tensors[program.model.output].elements)])
    c = (out / "tinyml_model.c").read_text()
    stripped = re.sub(rf"(  /\* op \d+: {kind} \*/\n  TINYML_OP_BEGIN\([^\n]*\n)(.*?)(  TINYML_OP_END\(\);)", r"\1\3",
                      c, flags=re.S)
    for f in (f for s in program.steps if s.kind == kind for f in s.functions):
        stripped = stripped.replace(f.definition, "")
    (out / "stripped.c").write_text(stripped)
    return text_bytes(out / "tinyml_model.c") - text_bytes(out / "stripped.c")


def cases() -> dict[str, tuple[str, object, tuple]]:
    found = {"softmax": ("SOFTMAX", graphs.residual_cnn, (12, 12, 3))}
    found.update({f"concat_{n}": ("CONCATENATION", b, s) for n, (b, s, _) in graphs.CONCATS.items()})
    found.update({n.lower(): (n.split("_")[0], b, (6, 6, 3)) for n, b in graphs.BINARY.items()})
    found.update({n: (kind, b, (6, 5, 3)) for n, (kind, b) in graphs.MOVES.items()})
    found.update({n: (kind, b, (6, 5, 3)) for n, (kind, b) in reductions.REDUCTIONS.items()})
    return found


def main() -> None:
    results = {}
    for name, (kind, build, shape) in cases().items():
        results[name] = dict(op=kind, code_bytes=op_bytes(kind, build, shape))
        print(f"{name:24s} {kind:24s} {results[name]['code_bytes']:5d} B")
    path = ROOT / "bench" / "results" / "op_code_bytes.json"
    path.write_text(json.dumps(results, indent=1) + "\n")
    print(path)


if __name__ == "__main__":
    main()
