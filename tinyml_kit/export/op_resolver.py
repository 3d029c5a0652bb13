"""The `MicroMutableOpResolver<N>` that registers exactly a model's ops, from the table of the ops TFLM runs
(`core.tflm_ops`, read from TFLM's `micro_mutable_op_resolver.h`), or from the header of the tree in use."""

import re
from pathlib import Path

from tinyml_kit.core.errors import UserError
from tinyml_kit.core.tflm_ops import TFLM_BUILTINS

RESOLVER_HEADER = "tensorflow/lite/micro/micro_mutable_op_resolver.h"


def parse_resolver_header(text: str) -> dict[str, str]:
    """Builtin op -> `Add*()` method, for the methods of `micro_mutable_op_resolver.h` callable without arguments."""
    parts = re.split(r"\bTfLiteStatus (Add\w+)\(", text)
    table: dict[str, str] = {}
    for method, body in zip(parts[1::2], parts[2::2], strict=False):
        params = body[:body.index(")")]
        if any("=" not in p for p in params.split(",") if p.strip()):
            continue  # needs arguments (AddCustom, AddBuiltin): not a per-op registration
        op = re.search(r"BuiltinOperator_(\w+)", body[:400])
        if op:
            table.setdefault(op.group(1), method)
    return table


def tree_builtins(tflm_tree: Path) -> dict[str, str]:
    return parse_resolver_header((Path(tflm_tree) / RESOLVER_HEADER).read_text())


def resolver_methods(ops: list[str], table: dict[str, str] = TFLM_BUILTINS) -> list[str]:
    """The `Add*()` calls for `ops`, in the model's order; an op TFLM cannot run is refused by name."""
    missing = [op for op in ops if op not in table]
    if missing:
        raise UserError(f"the model uses {', '.join(missing)}, which TFLM cannot run on a microcontroller: "
                        f"rebuild it without {'that op' if len(missing) == 1 else 'those ops'} "
                        f"(TFLM runs {len(table)} builtin ops; see `tinyml-kit inspect MODEL.tflite`)")
    return [table[op] for op in ops]
