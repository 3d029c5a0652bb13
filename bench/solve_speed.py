"""`tinyml-kit solve` for every board, each as a fresh process (import to answer): wall time and the answer.
Each board runs `--runs` times (default 3, interleaved over the boards): the minimum and the median wall time are
kept, since a busy machine only ever adds time.

    .venv/bin/python bench/solve_speed.py [--runs 3]
Writes bench/results/solve_speed.json.
"""

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tinyml_kit.core.boards import load_boards

RESULT = Path(__file__).parent / "results" / "solve_speed.json"
CLI = [sys.executable, "-m", "tinyml_kit.cli"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="fresh processes per board")
    runs = parser.parse_args().runs
    boards = list(load_boards().values())
    walls: dict[str, list[float]] = {b.id: [] for b in boards}
    done: dict[str, subprocess.CompletedProcess] = {}
    for _ in range(runs):
        for board in boards:
            start = time.perf_counter()
            done[board.id] = subprocess.run([*CLI, "solve", "--board", board.id, "--json"], capture_output=True,
                                            text=True)
            walls[board.id].append(time.perf_counter() - start)
    rows = []
    for board in boards:
        answer = done[board.id]
        row = {"board": board.id, "wall_s": round(min(walls[board.id]), 3),
               "median_wall_s": round(statistics.median(walls[board.id]), 3), "exit_code": answer.returncode}
        if answer.returncode == 0:
            found = json.loads(answer.stdout)
            row |= {k: found.get(k) for k in ("family", "alpha", "beta", "t0", "depth", "params", "flash_bytes_est",
                                              "arena_bytes_est", "predicted_accuracy", "binding_constraint")}
            row["configurations_estimated"] = found["configurations_estimated"]
        else:
            row["error"] = answer.stderr.strip().splitlines()[-1]
        rows.append(row)
        print(json.dumps(row))
    summary = {"boards": len(rows), "runs": runs, "max_wall_s": max(r["wall_s"] for r in rows),
               "max_median_wall_s": max(r["median_wall_s"] for r in rows),
               "under_1s": sum(r["wall_s"] < 1 for r in rows),
               "answered": sum(r["exit_code"] == 0 for r in rows),
               "refused_with_one_line": sum(r["exit_code"] == 2 for r in rows)}
    print(json.dumps(summary))
    RESULT.parent.mkdir(exist_ok=True)
    RESULT.write_text(json.dumps({"summary": summary, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
