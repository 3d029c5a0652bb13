"""Per-op instructions on the emulated core: what `verify --profile` reads off the firmware's `TINYML_OP` lines.

The firmware times every op of every image with the same SysTick clock that times the whole inference (QEMU's
instruction counter, so a tick is a fixed number of instructions). Each op's figure is its median over the images;
the ops' sum against the whole inference shows what runs between them: TFLM's interpreter, or the C engine's
generated code around its kernel calls.
"""

import re

import numpy as np

from tinyml_kit.core.errors import UserError
from tinyml_kit.core.verification import OpProfile, OpTypeProfile, VerifyProfile, VerifyResult
from tinyml_kit.solve.engines import get_engine

_OP = re.compile(r"^TINYML_OP (\d+) (\d+) (\S+) (\d+)$", re.M)


def parse_profile(printed: str, images: int, total: int) -> list[OpProfile]:
    """The ops in execution order, each with its median instructions over all images and its
    share of `total` (the median whole inference); empty when the firmware printed no profile."""
    runs: dict[int, list[tuple[int, str, int]]] = {}
    for m in _OP.finditer(printed):
        runs.setdefault(int(m.group(1)), []).append((int(m.group(2)), m.group(3), int(m.group(4))))
    if not runs:
        return []
    first = runs[min(runs)]
    if any(len(runs.get(i, ())) != len(first) for i in range(images)):
        raise UserError("the firmware's profile differs in its ops from image to image: the firmware is broken; "
                        "report it with the run directory")
    counts = np.array([[n for _, _, n in runs[i]] for i in range(images)])
    medians = np.median(counts, axis=0)
    return [OpProfile(index, op, int(round(medians[i])), float(medians[i] / total) if total else 0.0)
            for i, (index, op, _) in enumerate(first)]


def profile_summary(profile: list[OpProfile], total: int) -> VerifyProfile:
    """The ops, and per op type: ops, instructions and share, largest first; and the ops' sum against the whole
    inference."""
    by_type: dict[str, list[int]] = {}
    for p in profile:
        by_type.setdefault(p.op, []).append(p.instructions)
    summed = sum(p.instructions for p in profile)
    types = sorted(by_type.items(), key=lambda kv: -sum(kv[1]))
    return VerifyProfile(profile, summed, summed / total if total else 0.0,
                         [OpTypeProfile(op, len(v), sum(v), sum(v) / total if total else 0.0) for op, v in types])


def profile_lines(result: VerifyResult, top: int = 12) -> list[str]:
    """The profile in words: per op type, then the slowest ops, then the sum against the whole inference."""
    total, profile = result.instructions_per_inference, result.profile
    if profile is None:
        return []
    lines = ["  per op type:"]
    lines += [f"    {t.op:<20} x{t.count:<3} {t.instructions:>12,} instr  {t.share:6.1%}" for t in profile.by_op]
    slowest = sorted(profile.ops, key=lambda p: -p.instructions)[:top]
    lines.append(f"  slowest {len(slowest)} of {len(profile.ops)} ops:")
    lines += [f"    #{p.index:<3} {p.op:<20} {p.instructions:>12,} instr  {p.share:6.1%}" for p in slowest]
    between = get_engine(result.engine).words.between_ops   # in the engine's own terms
    lines.append(f"  ops sum to {profile.instructions:,} of {total:,} instructions "
                 f"({profile.coverage:.2%}); the rest is {between}")
    return lines
