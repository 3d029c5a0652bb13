"""The pixel range of a model that cannot state it (an ONNX model, a torch.export program), as `--pixels` gives it
(see `pipeline.foreign` for how tinyml-kit feeds pixels)."""

from pathlib import Path

from tinyml_kit.core.errors import UserError, param


def asked_pixels(path: Path, pixels: str | None, what: str, in_front: str) -> str:
    """How the pixel range of a model that cannot state it (an ONNX model, a torch.export program) is known:
    `pixels` is required; a model taking [0, 1] gets `in_front` put in front."""
    if pixels is None:
        raise UserError(f"{path} is {what}, whose pixel range cannot be read from it: pass "
                        f"{param('pixels', '0-1')} if it takes pixels scaled to [0, 1] (PyTorch's ToTensor), or "
                        f"{param('pixels', '0-255')} if it takes them as they are; a mean / std normalization must "
                        f"be inside the model", "pixels")
    return f"taken as 0..1, as asked: {in_front} is put in front" if pixels == "0-1" else "taken as 0..255, as asked"
