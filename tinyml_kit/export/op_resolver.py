"""Which builtin ops TFLM can run, and the `MicroMutableOpResolver<N>` that registers exactly a model's ops.

The table is read from TFLM's `micro_mutable_op_resolver.h` (commit 90b983c2, 2026-08-20): builtin op ->
the `Add*()` method that registers it without arguments. Keeping a copy here lets `export` refuse an op TFLM
lacks without a TFLM tree at hand; a test re-reads the header of the tree in use, so the copy cannot drift
silently, and `verify` checks the tree it builds against.
"""

import re
from pathlib import Path

from tinyml_kit.core.errors import UserError

RESOLVER_HEADER = "tensorflow/lite/micro/micro_mutable_op_resolver.h"

TFLM_BUILTINS: dict[str, str] = {
    "ABS": "AddAbs", "ADD": "AddAdd", "ADD_N": "AddAddN", "ARG_MAX": "AddArgMax", "ARG_MIN": "AddArgMin",
    "ASSIGN_VARIABLE": "AddAssignVariable", "AVERAGE_POOL_2D": "AddAveragePool2D", "BATCH_MATMUL": "AddBatchMatMul",
    "BATCH_TO_SPACE_ND": "AddBatchToSpaceNd", "BROADCAST_ARGS": "AddBroadcastArgs", "BROADCAST_TO": "AddBroadcastTo",
    "CALL_ONCE": "AddCallOnce", "CAST": "AddCast", "CEIL": "AddCeil", "CONCATENATION": "AddConcatenation",
    "CONV_2D": "AddConv2D", "COS": "AddCos", "CUMSUM": "AddCumSum", "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D",
    "DEPTH_TO_SPACE": "AddDepthToSpace", "DEQUANTIZE": "AddDequantize", "DIV": "AddDiv",
    "DYNAMIC_UPDATE_SLICE": "AddDynamicUpdateSlice", "ELU": "AddElu", "EMBEDDING_LOOKUP": "AddEmbeddingLookup",
    "EQUAL": "AddEqual", "EXP": "AddExp", "EXPAND_DIMS": "AddExpandDims", "FILL": "AddFill", "FLOOR": "AddFloor",
    "FLOOR_DIV": "AddFloorDiv", "FLOOR_MOD": "AddFloorMod", "FULLY_CONNECTED": "AddFullyConnected",
    "GATHER": "AddGather", "GATHER_ND": "AddGatherNd", "GREATER": "AddGreater", "GREATER_EQUAL": "AddGreaterEqual",
    "HARD_SWISH": "AddHardSwish", "IF": "AddIf", "L2_NORMALIZATION": "AddL2Normalization",
    "L2_POOL_2D": "AddL2Pool2D", "LEAKY_RELU": "AddLeakyRelu", "LESS": "AddLess", "LESS_EQUAL": "AddLessEqual",
    "LOG": "AddLog", "LOGICAL_AND": "AddLogicalAnd", "LOGICAL_NOT": "AddLogicalNot", "LOGICAL_OR": "AddLogicalOr",
    "LOGISTIC": "AddLogistic", "LOG_SOFTMAX": "AddLogSoftmax", "MAXIMUM": "AddMaximum", "MAX_POOL_2D": "AddMaxPool2D",
    "MEAN": "AddMean", "MINIMUM": "AddMinimum", "MIRROR_PAD": "AddMirrorPad", "MUL": "AddMul", "NEG": "AddNeg",
    "NOT_EQUAL": "AddNotEqual", "PACK": "AddPack", "PAD": "AddPad", "PADV2": "AddPadV2", "PRELU": "AddPrelu",
    "QUANTIZE": "AddQuantize", "READ_VARIABLE": "AddReadVariable", "REDUCE_ALL": "AddReduceAll",
    "REDUCE_MAX": "AddReduceMax", "REDUCE_MIN": "AddReduceMin", "RELU": "AddRelu", "RELU6": "AddRelu6",
    "RESHAPE": "AddReshape", "RESIZE_BILINEAR": "AddResizeBilinear",
    "RESIZE_NEAREST_NEIGHBOR": "AddResizeNearestNeighbor", "REVERSE_V2": "AddReverseV2", "ROUND": "AddRound",
    "RSQRT": "AddRsqrt", "SELECT_V2": "AddSelectV2", "SHAPE": "AddShape", "SIN": "AddSin", "SLICE": "AddSlice",
    "SOFTMAX": "AddSoftmax", "SPACE_TO_BATCH_ND": "AddSpaceToBatchNd", "SPACE_TO_DEPTH": "AddSpaceToDepth",
    "SPLIT": "AddSplit", "SPLIT_V": "AddSplitV", "SQRT": "AddSqrt", "SQUARE": "AddSquare",
    "SQUARED_DIFFERENCE": "AddSquaredDifference", "SQUEEZE": "AddSqueeze", "STRIDED_SLICE": "AddStridedSlice",
    "SUB": "AddSub", "SUM": "AddSum", "SVDF": "AddSvdf", "TANH": "AddTanh", "TRANSPOSE": "AddTranspose",
    "TRANSPOSE_CONV": "AddTransposeConv", "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM",
    "UNPACK": "AddUnpack", "VAR_HANDLE": "AddVarHandle", "WHILE": "AddWhile", "ZEROS_LIKE": "AddZerosLike",
}


def parse_resolver_header(text: str) -> dict[str, str]:
    """Builtin op -> `Add*()` method, for the methods of `micro_mutable_op_resolver.h` callable without arguments."""
    parts = re.split(r"\bTfLiteStatus (Add\w+)\(", text)
    table: dict[str, str] = {}
    for method, body in zip(parts[1::2], parts[2::2]):
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
