"""What bench/engine.py's results say: the ratios between its three configurations, issue 31's "Done when" targets
checked against them (PASS / MISS with the measured value), and the compact table it prints.

The configurations: "tflm" = TFLM + CMSIS-NN of this tree, "c_before" = the C engine before issue 31 (an older
checkout), "c" = the C engine of this tree. A model's target family is read off its name: resnet8; tinynet* and
mobilenet* (convolution-heavy); anything with "phinet" in it (so a QAT or pruned PhiNet passed as --tflite
phinet_qat=PATH counts as a PhiNet). Other names are held to the targets every model shares.
"""

from collections.abc import Callable
from dataclasses import dataclass

CONFIGS = ("tflm", "c_before", "c")
RATIO_KEYS = ("instructions_per_inference", "cycles_est", "elf_flash_bytes", "arena_bytes")
DSP_CORES = ("m4", "m7", "m33")   # the cores the speed targets are set on; the M55 is checked where it runs


def ran(cell: dict, config: str) -> dict | None:
    """The configuration's measurements in a (model, core) cell, or None if it did not run there."""
    row = cell.get(config)
    return row if row and "not_run" not in row and "failed" not in row else None


def ratios(cell: dict) -> dict:
    """(c)/(c_before) and (c)/(tflm) for instructions, cycles, ELF flash and arena, where both ran."""
    out = {}
    for base in ("c_before", "tflm"):
        c, b = ran(cell, "c"), ran(cell, base)
        if c and b:
            out[f"c/{base}"] = {k: round(c[k] / b[k], 3) for k in RATIO_KEYS if c.get(k) and b.get(k)}
    return out


def family(model: str) -> str:
    if model.startswith("resnet8"):
        return "resnet8"
    if model.startswith(("tinynet", "mobilenet")):
        return "conv"
    return "phinet" if "phinet" in model else "other"


def _c(key: str) -> Callable[[dict], float | None]:
    return lambda cell: (ran(cell, "c") or {}).get(key)


def _ratio(key: str) -> Callable[[dict], float | None]:
    return lambda cell: ratios(cell).get("c/c_before", {}).get(key)


def _worst_diff(cell: dict) -> float | None:
    diffs = [row["max_abs_diff"] for row in (ran(cell, config) for config in CONFIGS) if row]
    return max(diffs) if diffs else None


@dataclass(frozen=True)
class Target:
    what: str
    families: tuple[str, ...]              # the model families it applies to
    required: tuple[str, ...]              # cores it must be measured on
    optional: tuple[str, ...]              # cores it is checked on where measured
    value: Callable[[dict], float | None]  # the measured value in a (model, core) cell
    limit: float
    min_images: int = 0                    # a PASS on fewer images is only a PASS so far


ALL = ("resnet8", "conv", "phinet", "other")
TARGETS = (
    Target("ResNet-8 instructions per inference (c)", ("resnet8",), ("m4",), (), _c("instructions_per_inference"),
           15.0e6),
    Target("ResNet-8 estimated cycles (c), the M4 board", ("resnet8",), ("m4",), (), _c("cycles_est"), 19.8e6),
    Target("instructions (c)/(c_before), TinyNet/MobileNet", ("conv",), DSP_CORES, (),
           _ratio("instructions_per_inference"), 0.6),
    Target("instructions (c)/(c_before), PhiNet", ("phinet",), DSP_CORES, (), _ratio("instructions_per_inference"),
           0.75),
    Target("ResNet-8 arena (c), bytes", ("resnet8",), DSP_CORES, ("m55",), _c("arena_bytes"), 24000),
    Target("arena does not grow: (c)/(c_before)", ALL, DSP_CORES, ("m55",), _ratio("arena_bytes"), 1.0),
    Target("ELF flash (c)/(c_before)", ALL, DSP_CORES, ("m55",), _ratio("elf_flash_bytes"), 1.15),
    Target("bit-exact: max |diff| vs LiteRT, every configuration", ALL, DSP_CORES, ("m55",), _worst_diff, 0, 100),
)


def check(target: Target, model: str, cores: dict, images: int) -> dict:
    """The target on one model: the worst value over the cores measured, PASS / MISS, and what is still missing
    for a full PASS (a required core not measured, too few images): then "PASS so far"."""
    values = {core: target.value(cell) for core, cell in cores.items() if core in target.required + target.optional}
    values = {core: v for core, v in values.items() if v is not None}
    missing = [f"{core} not measured" for core in target.required if core not in values]
    missing += [f"{images} images < {target.min_images}"] if images < target.min_images else []
    row = {"target": target.what, "model": model, "limit": target.limit, "cores_measured": sorted(values),
           "incomplete": missing}
    if not values:
        return {**row, "measured": None, "worst_core": None, "verdict": "NOT RUN"}
    worst = max(values, key=lambda core: values[core])
    verdict = "MISS" if values[worst] > target.limit else "PASS so far" if missing else "PASS"
    return {**row, "measured": values[worst], "worst_core": worst, "verdict": verdict}


def targets(models: dict, images: int) -> list[dict]:
    """Every target on every model it applies to, in the order of TARGETS."""
    return [check(t, name, model["cores"], images) for t in TARGETS for name, model in models.items()
            if family(name) in t.families]


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 10:
        return f"{value:.3f}" if value else "0"
    return f"{value / 1e6:.2f} M" if value >= 1e6 else f"{value:,.0f}"


def target_lines(rows: list[dict]) -> list[str]:
    lines = []
    for r in rows:
        where = f" at {r['worst_core']}" if r["worst_core"] else ""
        missing = f" ({', '.join(r['incomplete'])})" if r["incomplete"] else ""
        lines.append(f"{r['verdict']:<11} {r['target']:<52} {r['model']:<20} {_num(r['measured']):>9}{where} "
                     f"<= {_num(r['limit'])}{missing}")
    return lines


def _three(cell: dict, key: str, scale: float, digits: int) -> str:
    return "/".join(f"{row[key] / scale:.{digits}f}" if (row := ran(cell, c)) and row.get(key) is not None else "-"
                    for c in CONFIGS)


# (heading, key, scale, digits, width of the a/b/c column)
COLUMNS = (("instr M", "instructions_per_inference", 1e6, 2, 18), ("cycles M", "cycles_est", 1e6, 2, 18),
           ("ELF flash kB", "elf_flash_bytes", 1e3, 1, 17), ("arena B", "arena_bytes", 1, 0, 18))


def table_header() -> str:
    columns = "".join(f"{h + ' a/b/c':<{w}} {'c/b':<5}{'c/a':<6}" for h, _, _, _, w in COLUMNS)
    return f"{'model':<20} {'core':<4} {'=LR':<4}{columns}ms(c)"


def cell_line(model: str, core: str, cell: dict) -> str:
    """One (model, core): bit-exactness with LiteRT (y/N/- per configuration), then instructions, estimated cycles,
    ELF flash and arena, each as a = tflm / b = c_before / c with the ratios c/b and c/a, and (c)'s ms at the
    board's clock."""
    r = ratios(cell)
    exact = "".join("-" if (row := ran(cell, c)) is None else "y" if row["bit_exact"] else "N" for c in CONFIGS)
    columns = "".join(f"{_three(cell, key, scale, digits):<{w}} "
                      + "".join(f"{r[base][key]:<5.2f}" if key in r.get(base, {}) else "-    "
                                for base in ("c/c_before", "c/tflm")) + " "
                      for _, key, scale, digits, w in COLUMNS)
    ms = (ran(cell, "c") or {}).get("latency_ms")
    return f"{model:<20} {core:<4} {exact:<4}{columns}{'-' if ms is None else f'{ms:.1f}'}"


def not_run_lines(model: str, core: str, cell: dict) -> list[str]:
    return [f"  {model} {core} {config}: not run: {row.get('not_run') or row.get('failed')}"
            for config in CONFIGS if (row := cell.get(config)) and ("not_run" in row or "failed" in row)]
