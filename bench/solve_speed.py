"""`tinyml-kit solve` for every board, each as a fresh process (import to answer): wall time and the answer.

    .venv/bin/python bench/solve_speed.py
Writes bench/results/solve_speed.json.
"""

import json
import subprocess
import sys
import time
from pathlib import Path

from tinyml_kit.core.boards import load_boards

RESULT = Path(__file__).parent / "results" / "solve_speed.json"
CLI = [sys.executable, "-m", "tinyml_kit.cli"]


def main() -> None:
    rows = []
    for board in load_boards().values():
        start = time.perf_counter()
        done = subprocess.run([*CLI, "solve", "--board", board.id, "--json"], capture_output=True, text=True)
        wall = time.perf_counter() - start
        row = {"board": board.id, "wall_s": round(wall, 3), "exit_code": done.returncode}
        if done.returncode == 0:
            answer = json.loads(done.stdout)
            row |= {k: answer.get(k) for k in ("family", "alpha", "beta", "t0", "depth", "params", "flash_bytes_est",
                                               "arena_bytes_est", "predicted_accuracy", "binding_constraint")}
            row["configurations_estimated"] = answer["configurations_estimated"]
        else:
            row["error"] = done.stderr.strip().splitlines()[-1]
        rows.append(row)
        print(json.dumps(row))
    summary = {"boards": len(rows), "max_wall_s": max(r["wall_s"] for r in rows),
               "answered": sum(r["exit_code"] == 0 for r in rows),
               "refused_with_one_line": sum(r["exit_code"] == 2 for r in rows)}
    print(json.dumps(summary))
    RESULT.parent.mkdir(exist_ok=True)
    RESULT.write_text(json.dumps({"summary": summary, "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
