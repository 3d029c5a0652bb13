"""A PyTorch `torch.export` program (.pt2, written by `torch.export.save`) for `deploy` (`pipeline.foreign` makes it
a `Foreign`): loaded and its one image input and class vector output checked, converted by litert-torch (Google's
PyTorch -> LiteRT converter, the optional extra `.[torch]`) to a float .tflite on NHWC pixels 0..255, and that
model checked against torch itself on the validation images before it is quantized like any float .tflite.

The program is NCHW; a permute from NHWC goes in front of its graph, which litert-torch's layout pass folds into
the graph (the convolutions run NHWC as TFLite's do). Before converting, the flatten of a map read by Linear
layers is made NHWC and a division by 255 for `--pixels 0-1` (PyTorch's `ToTensor`: the pixel range cannot be
read from a program) folded into the first convolutions (`pipeline.torch_rewrite`); after, a convolution of a
one-channel input, which the converter makes a depthwise one, is made a convolution again
(`pipeline.one_channel_conv`). The converted tensors are named after the modules they come from
(`__main__.Net/torch.nn.modules.normalization.GroupNorm_norm`), which names an op the engine does not run. A
mean / std normalization is the user's: export it inside the model.

Ops litert-torch cannot convert are refused naming the op and the module it came from; ops it converts to but
LiteRT does not run (StableHLO, custom ops) are refused by name before quantizing."""

import importlib.util
import os
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinyml_kit.core.errors import UserError, first_line, param
from tinyml_kit.core.litert import LiteRtModel
from tinyml_kit.core.record_sections import ConversionCheck
from tinyml_kit.core.stderr import captured_stderr
from tinyml_kit.core.tflite_info import read_model
from tinyml_kit.pipeline.converted import BATCH, MIN_AGREEMENT, asked_pixels, checked, source_images
from tinyml_kit.pipeline.one_channel_conv import as_convolutions
from tinyml_kit.pipeline.torch_rewrite import channels_last, flattened_nhwc, pixels_in

INSTALL = "pip install -e '.[torch]'"
LITERT_RUNS_NOT = ("STABLEHLO_", "CUSTOM")   # op kinds a converted model may hold that LiteRT's kernels do not run


@dataclass
class TorchProgram:
    """The loaded program: its NCHW input as (C, H, W) with None for an open size, its classes, and the batch size
    the export fixed (None when it left the batch open)."""
    path: Path
    program: Any                # torch.export.ExportedProgram
    input_chw: tuple
    classes: int
    batch: int | None

    @property
    def name(self) -> str:
        return str(self.path)


@contextmanager
def _quiet():
    """litert-torch and torchao print progress, warnings and the native libraries they could not load."""
    os.environ.setdefault("LITERT_TORCH_SHOW_PROGRESS", "n")
    with warnings.catch_warnings(), captured_stderr():
        warnings.simplefilter("ignore")
        yield


def torch_modules(name: str) -> tuple:
    """(torch, litert_torch), or one line saying how to install them (before anything heavy loads). TensorFlow
    loads first, as tinyml-kit loads it: after litert-torch (its JAX and absl logging) it reports a failed CUDA
    start on a machine without a GPU."""
    if any(importlib.util.find_spec(package) is None for package in ("torch", "litert_torch")):
        raise UserError(f"{name} is a torch.export program: deploying a .pt2 needs the torch extra: {INSTALL}",
                        "model")
    from tinyml_kit._tf import tf

    tf()
    with _quiet():
        import litert_torch
        import torch
    return torch, litert_torch


def open_program(path: Path, pixels: str | None) -> tuple[TorchProgram, str]:
    """The loaded, checked program, and how its pixel range is known (`pixels` is required)."""
    torch, _ = torch_modules(str(path))
    try:
        with _quiet():
            program = torch.export.load(str(path))
    except Exception as e:
        raise UserError(f"{path} could not be loaded as a torch.export program ({first_line(e)}): save it with "
                        f"torch.export.save(torch.export.export(model.eval(), (example,)), '{path.name}')",
                        "model") from None
    training = _in_training_mode(torch, program)
    if training:
        raise UserError(f"{path} was exported in training mode (batch statistics or dropout at module "
                        f"{', '.join(training[:4])}): export the model after model.eval()", "model")
    shape, out = _io_shapes(path, program)
    if len(shape) != 4 or len(out) != 2 or not isinstance(out[1], int):
        raise UserError(f"{path} takes {_text(shape)} and gives {_text(out)}: deploy takes an image classifier "
                        f"(N x C x H x W in, one score per class out)", "model")
    if isinstance(shape[0], int) and shape[0] != 1:
        raise UserError(f"{path} was exported for a batch of {shape[0]} images: export it with a batch of 1",
                        "model")
    how = asked_pixels(path, pixels, "a torch.export program",
                       "a division by 255 (in the first convolutions' weights where they alone read the image)")
    found = TorchProgram(path, program, tuple(d if isinstance(d, int) else None for d in shape[1:]), out[1],
                         shape[0] if isinstance(shape[0], int) else None)
    return found, how


def _in_training_mode(torch, program) -> list[str]:
    """The modules whose BatchNorm or Dropout the program runs in training mode (`torch.export.export` of a model
    not put in `eval()`): batch statistics and random drops that a deployed model must not have."""
    aten = torch.ops.aten
    flags = {aten.batch_norm.default: 5, aten.dropout.default: 2}   # the argument saying "training"
    return sorted({_module_of(node) for node in program.graph.nodes
                   if node.op == "call_function" and node.target in flags
                   and len(node.args) > flags[node.target] and node.args[flags[node.target]] is True})


def _io_shapes(path: Path, program) -> tuple[tuple, tuple]:
    """The shapes of the program's one user input and one user output (a symbolic size stays a SymInt)."""
    signature = program.graph_signature
    nodes = {node.name: node for node in program.graph.nodes}
    outputs = [arg for arg in next(n for n in program.graph.nodes if n.op == "output").args[0]
               if getattr(arg, "name", None) in signature.user_outputs]
    if len(signature.user_inputs) != 1 or len(outputs) != 1:
        raise UserError(f"{path} has {len(signature.user_inputs)} inputs and {len(outputs)} outputs: deploy takes "
                        f"an image classifier, one image in and one class vector out", "model")
    value = nodes[signature.user_inputs[0]].meta.get("val"), outputs[0].meta.get("val")
    return tuple(value[0].shape), tuple(value[1].shape)


def convert(program: TorchProgram, shape: tuple[int, int, int], pixels: str) -> bytes:
    """The float .tflite on NHWC images of `shape`, taking pixels 0..255, batch 1."""
    torch, litert_torch = torch_modules(program.name)
    h, w, c = shape
    if c != program.input_chw[0]:
        raise UserError(f"{program.name} takes {program.input_chw[0]}-channel images, not {c}", "input_shape")

    graph = flattened_nhwc(torch, program.program.module())
    module = channels_last(torch, pixels_in(torch, graph, 255.0 if pixels == "0-1" else 1.0))
    try:
        with _quiet():
            flatbuffer = bytes(litert_torch.convert(module, (torch.zeros(1, h, w, c),)).model_content())
    except Exception as e:
        raise UserError(_unconverted(program, e), "model") from None
    flatbuffer = as_convolutions(flatbuffer)
    left = sorted({kind for kind in read_model(flatbuffer).ops if kind.startswith(LITERT_RUNS_NOT)})
    if left:
        raise UserError(f"{program.name} converts to ops LiteRT does not run: {', '.join(left)}: replace the layers "
                        f"they come from (or export an .onnx of the CNN subset deploy imports)", "model")
    return flatbuffer


def _unconverted(program: TorchProgram, error: Exception) -> str:
    """The refusal of a program litert-torch could not convert: the op it has no lowering for, with the module it
    came from where the program's own graph holds it (litert-torch converts after decomposing some ops)."""
    first = first_line(error, None)
    marker = "Lowering not found: "
    if not first.startswith(marker):
        return f"litert-torch could not convert {program.name}: {first[:300]}"
    op = first[len(marker):].strip()
    packet = op.rsplit(".", 1)[0] if op.count(".") > 1 else op
    where = [_module_of(node) for node in _nodes(program.program)
             if node.op == "call_function" and str(node.target).rsplit(".", 1)[0] == packet]
    place = f" (module {', '.join(sorted(set(where))[:4])})" if where else ""
    return (f"{program.name} has an op litert-torch cannot convert: {packet}{place}: replace that layer with ops it "
            f"converts and export the program again")


def _nodes(program) -> list:
    """The program's nodes, then those of its core-ATen decomposition (where the op litert-torch names may first
    appear: `torch.special.erfinv` is decomposed to `aten.erfinv`), each with the module stack it came from."""
    nodes = list(program.graph.nodes)
    try:
        with _quiet():
            nodes += list(program.run_decompositions().graph.nodes)
    except Exception:   # the op is still named, without its module
        pass
    return nodes


def _module_of(node) -> str:
    """Where an FX node came from: its innermost module's path and class, `'features.3' (Erf)`."""
    stack = list((node.meta.get("nn_module_stack") or {}).values())
    if not stack:
        return f"node '{node.name}'"
    path, kind = stack[-1]
    kind = kind if isinstance(kind, str) else getattr(kind, "__name__", str(kind))
    return f"'{path or node.name}' ({kind.rsplit('.', 1)[-1]})"


def compare(program: TorchProgram, flatbuffer: bytes, images: np.ndarray, pixels: str) -> ConversionCheck:
    """The converted float `flatbuffer` on LiteRT (pixels 0..255, NHWC) against torch running the program on the
    same `images` (NCHW, divided by 255 for a model taking [0, 1]); refused below `MIN_AGREEMENT`."""
    torch, _ = torch_modules(program.name)
    x, nchw = source_images(images, pixels)
    step, module = program.batch or BATCH, program.program.module()
    with torch.no_grad():
        expected = np.concatenate([module(torch.from_numpy(nchw[i:i + step])).numpy() for i in range(0, len(x), step)])
    got = LiteRtModel(flatbuffer).predict(x)
    return checked(ConversionCheck.measured("pt2", f"torch {torch.__version__}", expected, got, MIN_AGREEMENT),
                   program.name, "converted", f"check {param('pixels')}")


def _text(shape) -> str:
    return "x".join(str(d) if isinstance(d, int) else "?" for d in shape) or "a scalar"
