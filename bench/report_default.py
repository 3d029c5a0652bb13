"""Benchmark analyze, validate and report on the quick-start run.

Prints and writes bench/results/report_default.json: the per-layer analysis's totals against the measured file
and TFLM arena, the RAM peak and the board margins; validate's per-runtime accuracies and per-pair metrics
(TFLM vs LiteRT, int8 vs float, ONNX vs Keras); the linear probes; and how long each step and `report` take.

    .venv/bin/python bench/report_default.py [--run RUN_DIR]

Without --run it fits the default (digits, nano33-ble-sense) into a temporary directory first (~2 min).
"""

import argparse
import json
import time
from pathlib import Path

from default_run import default_run
from portable import portable

from tinyml_kit.pipeline.checks import analyze_target, validate_target
from tinyml_kit.pipeline.runs import report_run

RESULT = Path(__file__).parent / "results" / "report_default.json"


def _timed(fn, *args, **kw):
    start = time.perf_counter()
    value = fn(*args, **kw)
    return value, round(time.perf_counter() - start, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="An existing run directory (default: fit the default one).")
    args = parser.parse_args()
    with default_run(args.run) as run_dir:
        analysis, analyze_s = _timed(analyze_target, run_dir)
        validation, validate_s = _timed(validate_target, run_dir)
        html, report_s = _timed(report_run, run_dir)
        run_report = json.loads((run_dir / "report.json").read_text())
        html_bytes = html.stat().st_size
    peak, fields = analysis.peak, analysis.to_dict()
    result = {
        "command": "tinyml-kit analyze RUN_DIR; tinyml-kit validate RUN_DIR; tinyml-kit report RUN_DIR",
        "run": portable(str(args.run.absolute())) if args.run else "fit defaults",
        "analysis": {k: v for k, v in fields.items() if k not in ("layers", "peak_tensors")},
        "peak": {"op": peak.op, "name": peak.name, "live_bytes": peak.live_bytes, "tensors": fields["peak_tensors"]},
        "totals_match": {"flash": analysis.flash_bytes == run_report["flash_bytes"],
                         "arena": analysis.arena_bytes == run_report["arena_bytes"],
                         "plan": analysis.plan_matches_tflm, "macs": analysis.macs == run_report["macs"]},
        "validation": {"images": validation.images,
                       "accuracy": {k: v["accuracy"] for k, v in validation.runtimes.items()},
                       "macro_f1": {k: v["macro_f1"] for k, v in validation.runtimes.items()},
                       "pairs": validation.pairs},
        "probes": run_report.get("report", {}).get("probes"),
        "report_html_bytes": html_bytes,
        "timings_s": {"analyze": analyze_s, "validate": validate_s, "report": report_s},
    }
    result = portable(result, run_dir)   # the run's files as RUN_DIR/..., not a temporary path
    RESULT.parent.mkdir(exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
