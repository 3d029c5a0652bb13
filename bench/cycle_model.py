"""The cycle model against published cycle counts of code rebuilt here: each reference is built with its own
sources and flags, run on the emulated core under the QEMU plugin, and its window's estimated cycles (the core's
timing table, core/timing.py) set beside the cycles the publication measured on silicon.

References (each module's docstring says where its third-party tree comes from; none is in the repository):
- Cortex-M4: pqm4 (mupq/pqm4 3743a66, hand-written M4 assembly, STM32F407 at 24 MHz, 0 wait states) and
  Embench-IoT 0.5 (19 C programs, STM32F407 at 16 MHz, 0 wait states, GCC 9.2 there and 12.2 here).
- Cortex-M33: TFLM + CMSIS-NN on an NXP MCXN947 (150 MHz, flash with 3 wait states behind its LPCAC cache) and
  MLPerf Tiny v1.0 microTVM + CMSIS-NN on an nRF5340 (128 MHz, flash behind its cache). Both are estimated at zero
  wait states: the caches' geometry is not published, so their flash is a named error source, not a fitted one.
- Cortex-M7 and M55: no rebuildable published count is known; their tables come from GCC's and LLVM's scheduling
  models and every output marks them not validated.
Arm FVP cycle counts are not references (TFLM: they are not CPU timings).

    TINYML_PQM4_DIR=... TINYML_EMBENCH_DIR=... TINYML_M33_MODELS=... TINYML_OCTOML_NRF5340_DIR=...
    TINYML_CMSIS5_DIR=... .venv/bin/python bench/cycle_model.py [--summary-only]
Runs the four reference benches (each writes its own bench/results/*.json), then writes
bench/results/cycle_model.json: every reference with its error, and per core the median and worst absolute error
of the counted ones against the target (median <= 10 %, worst <= 20 %).
"""

import argparse
import json
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from tinyml_kit.core.timing import TIMINGS

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
RESULT = RESULTS / "cycle_model.json"
MODULES = ("pqm4", "embench", "tflm_m33", "microtvm_m33")
TARGET_MEDIAN, TARGET_WORST = 0.10, 0.20


@dataclass(frozen=True)
class Row:
    source: str
    name: str
    core: str
    published_cycles: float
    instructions: int
    cycles_est: float
    counted: bool
    why_not: str = ""

    @property
    def error(self) -> float:
        return self.cycles_est / self.published_cycles - 1


def _pqm4() -> list[Row]:
    d = json.loads((RESULTS / "pqm4_m4.json").read_text())
    return [Row("pqm4", m["name"], "m4", m["published_cycles"], m["instructions"], m["cycles_est"], True)
            for m in d["measurements"]]


def _embench() -> list[Row]:
    d = json.loads((RESULTS / "embench_m4.json").read_text())
    return [Row("embench-iot-0.5", b["name"], "m4", b["published_cycles"], b["window"]["instructions"],
                b["window"]["cycles"], b["verified"], "" if b["verified"] else "failed verify_benchmark()")
            for b in d["benchmarks"] if b["window"]]


# The MCXN947 publication gives -Os and -O2 builds of the same models; this build is one, so the -Os rows (the
# publication's main table) count. Its later person_detect figure is 0.5 cycles per instruction, which a Cortex-M33
# cannot sustain; the same author's earlier file (before a DWT change that only moved that model) is counted instead.
_MCXN947_COUNTED = {"tflm-cmsis-nn/sine/mcxn947/Os", "tflm-cmsis-nn/micro_speech/mcxn947/Os",
                    "tflm-cmsis-nn/person_detect/mcxn947/Os-early"}


def _tflm_m33() -> list[Row]:
    d = json.loads((RESULTS / "tflm_m33.json").read_text())
    return [Row("mcxn947-tflm-cmsis-nn", r["name"], "m33", r["published_cycles"], r["measured"]["instructions"],
                r["measured"]["cycles_est"], r["name"] in _MCXN947_COUNTED,
                "" if r["name"] in _MCXN947_COUNTED else "another published build or figure of a counted model")
            for r in d["references"]]


def _microtvm_m33() -> list[Row]:
    """MLPerf Tiny v1.1 reran the v1.0 code on another board: v1.0 counts, v1.1 checks it."""
    d = json.loads((RESULTS / "microtvm_m33.json").read_text())
    return [Row("nrf5340-microtvm-cmsis-nn", r["name"], "m33", r["published_cycles"], r["measured"]["instructions"],
                r["measured"]["cycles_est"], "v1.0" in r["name"], "" if "v1.0" in r["name"] else "a rerun of v1.0")
            for r in d["references"]]


def summary(rows: list[Row]) -> dict:
    """Per core: the counted references' median and worst absolute error against the target, and the sources."""
    out = {}
    for core, timing in TIMINGS.items():
        counted = [r for r in rows if r.core == core and r.counted]
        if not counted:
            out[core] = {"references": 0, "validated": False, "timing": timing.source,
                         "why": "no rebuildable published cycle count is known for this core"}
            continue
        errors = [abs(r.error) for r in counted]
        worst = max(counted, key=lambda r: abs(r.error))
        median, top = float(np.median(errors)), float(max(errors))
        out[core] = {"references": len(counted), "sources": sorted({r.source for r in counted}),
                     "median_abs_error": round(median, 4), "worst_abs_error": round(top, 4),
                     "worst": worst.name, "meets_target": median <= TARGET_MEDIAN and top <= TARGET_WORST,
                     "timing": timing.source}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--summary-only", action="store_true", help="Summarize the reference results on disk.")
    args = parser.parse_args()
    if not args.summary_only:
        for module in MODULES:
            done = subprocess.run([sys.executable, "-m", f"bench.references.{module}"], cwd=ROOT)
            if done.returncode != 0:
                sys.exit(f"error: bench.references.{module} failed (see above); its result stays as it was")
    rows = _pqm4() + _embench() + _tflm_m33() + _microtvm_m33()
    print(f"{'reference':58} {'core':>4} {'published':>12} {'estimate':>12} {'error':>7}")
    for r in rows:
        print(f"{r.source + ' ' + r.name:58.58} {r.core:>4} {r.published_cycles:12,.0f} {r.cycles_est:12,.0f} "
              f"{r.error:+7.1%}{'' if r.counted else '  (not counted: ' + r.why_not + ')'}")
    cores = summary(rows)
    for core, s in cores.items():
        if s["references"]:
            print(f"{core}: {s['references']} references from {len(s['sources'])} sources, median |error| "
                  f"{s['median_abs_error']:.1%}, worst {s['worst_abs_error']:.1%} ({s['worst']}); target "
                  f"{'met' if s['meets_target'] else 'NOT met'}")
        else:
            print(f"{core}: not validated ({s['why']})")
    RESULT.write_text(json.dumps({"target": {"median_abs_error": TARGET_MEDIAN, "worst_abs_error": TARGET_WORST},
                                  "cores": cores,
                                  "references": [asdict(r) | {"error": round(r.error, 4)} for r in rows]},
                                 indent=1) + "\n")
    print(f"wrote {RESULT}")


if __name__ == "__main__":
    main()
