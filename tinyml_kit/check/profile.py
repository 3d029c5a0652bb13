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
    """The ops, and per op type: ops, instructions (and estimated cycles when the ops have them) and share, largest
    first; and the ops' sum against the whole inference."""
    by_type: dict[str, list[OpProfile]] = {}
    for p in profile:
        by_type.setdefault(p.op, []).append(p)
    summed = sum(p.instructions for p in profile)
    timed = bool(profile) and all(p.cycles is not None for p in profile)

    def of_type(op: str, ops: list[OpProfile]) -> OpTypeProfile:
        n = sum(p.instructions for p in ops)
        return OpTypeProfile(op, len(ops), n, n / total if total else 0.0,
                             sum(p.cycles or 0 for p in ops) if timed else None)

    types = sorted(by_type.items(), key=lambda kv: -sum(p.instructions for p in kv[1]))
    return VerifyProfile(profile, summed, summed / total if total else 0.0, [of_type(op, ops) for op, ops in types],
                         sum(p.cycles or 0 for p in profile) if timed else None)


def profile_lines(result: VerifyResult, top: int = 12) -> list[str]:
    """The profile in words: per op type, then the slowest ops, then the sum against the whole inference."""
    total, profile = result.instructions_per_inference, result.profile
    if profile is None:
        return []
    def cycles(n: int | None) -> str:
        return "" if n is None else f" {n:>13,} cycles"

    lines = ["  per op type:"]
    lines += [f"    {t.op:<20} x{t.count:<3} {t.instructions:>12,} instr{cycles(t.cycles)}  {t.share:6.1%}"
              for t in profile.by_op]
    slowest = sorted(profile.ops, key=lambda p: -p.instructions)[:top]
    lines.append(f"  slowest {len(slowest)} of {len(profile.ops)} ops:")
    lines += [f"    #{p.index:<3} {p.op:<20} {p.instructions:>12,} instr{cycles(p.cycles)}  {p.share:6.1%}"
              for p in slowest]
    between = get_engine(result.engine).words.between_ops   # in the engine's own terms
    lines.append(f"  ops sum to {profile.instructions:,} of {total:,} instructions "
                 f"({profile.coverage:.2%}); the rest is {between}")
    if profile.cycles is not None and result.cycles is not None:
        lines.append(f"  ops sum to {profile.cycles:,} of {result.cycles.cycles_est:,} estimated cycles "
                     f"({profile.cycles / max(1, result.cycles.cycles_est):.2%})")
    return lines
