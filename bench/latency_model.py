"""The per-op cost model against QEMU: profile models of every builder op by op on the emulated cores, fit the
per-op costs (`solve.instructions`: instructions, cycles at zero wait states, flash data reads and their misses at
a reference cache) on most of them, and predict the whole-inference instructions and cycles of the others.

Configurations are drawn across PhiNet (α, β, t0, N, stem stride, resolution), ResNet, TinyNet, MobileNetV1 and
MobileNetV2 at 32–128 px, with RGB and (a fifth as many) grayscale inputs, plus ResNet-8; every fourth, and
ResNet-8, is held out of the fit. Each is converted with trained-looking weights
(instruction counts do not depend on the weights' values), built as `verify --profile` builds it, and run on one
image. Profiles are appended to bench/results/latency_profiles.jsonl.gz as they finish, so a stopped run resumes
(and `--fit-only` refits from them: only profiles with cycles are fitted, older ones are ignored). Each profile
keeps its model's graph, so the fit works out the ops' groups and features with today's `solve.instructions`; a
C engine profile keeps the version of the engine's kernels it ran (C_ENGINE_KERNELS), and only those of the
current version are fitted or count as done, and the generated convolutions whose weights its build read from RAM
(`solve.weight_placement`): every other run of HELD_OUT_EVERY configurations is built with no RAM for weights, so
both placements are fitted (and held out). `--count N` profiles the first N configurations (and N/5 grayscale)
of the same draw, held out as in the full one: the C engine's costs need fewer models than TFLM's.
Writes bench/results/latency_model.json (held-out errors per core and engine, of instructions and of cycles) and
the shipped table models/latency/instructions.json.

    .venv/bin/python bench/latency_model.py [--cores m4 m7 m33 m55] [--engines tflm c] [--count N] [--fit-only]
"""

import argparse
import dataclasses
import gzip
import json
import logging
import random
import time
from pathlib import Path

import numpy as np

from tinyml_kit.core.cores import CORES
from tinyml_kit.core.graph import Graph, Op, Tensor
from tinyml_kit.core.latency import instruction_table, profiled_cores
from tinyml_kit.core.resources import INSTRUCTION_MODEL_FILE
from tinyml_kit.core.timing import REFERENCE_CACHE
from tinyml_kit.solve.engines import get_engine
from tinyml_kit.solve.instructions import (
    FEATURES,
    QUANTITIES,
    OpCostModel,
    fit_instruction_model,
    load_models,
    op_features,
    op_group,
)
from tinyml_kit.solve.latency_estimate import op_families

logging.basicConfig(level=logging.WARNING, format="%(message)s")
RESULTS = Path(__file__).parent / "results"
PROFILES = RESULTS / "latency_profiles.jsonl.gz"   # appended gzip members, one line per profile
RESULT = RESULTS / "latency_model.json"
HELD_OUT_EVERY = 4
DEFAULT_COUNT = 60
# The C engine's kernels as profiled: 1 called CMSIS-NN for every convolution; 2 generates CONV_2D and depthwise
# kernels on the DSP cores (engine.conv_gen, engine.depthwise_kernels); 3 adds weights copied to RAM as int16
# streams, residual blocks run row by row and LDM window moves. Raise it when the generated code changes: profiles
# of another version are neither fitted nor kept as done.
C_ENGINE_KERNELS = 3
RESNET8 = {"family": "resnet8", "knobs": {}, "size": 32}   # held out too: MLPerf Tiny's network
MLPERF_L4R5_MS = {"X-CUBE-AI 9.0 (v1.2)": 165.1, "microTVM + CMSIS-NN (v1.1)": 389.6,
                  "TFLM reference submission (v0.5)": 704.25}   # ResNet-8 on NUCLEO-L4R5ZI @ 120 MHz, anchors.md


def draw(count: int = 60, seed: int = 0, channels: int = 3) -> list[dict]:
    """`count` configurations over the builders with `channels`-channel inputs, each small enough for QEMU's
    4 MiB (arena below 1 MB)."""
    rng = random.Random(seed)
    families = ["phinet"] * 5 + ["resnet"] * 2 + ["tinynet", "mobilenetv1", "mobilenetv2"]
    configs = []
    while len(configs) < count:
        family = rng.choice(families)
        size = rng.choice([32, 32, 48, 64, 96, 128])
        if family == "phinet":
            knobs = {"alpha": rng.choice([0.25, 0.35, 0.5, 0.75, 1.0]), "beta": rng.choice([0.75, 1.0, 1.35]),
                     "t0": rng.choice([3, 4, 6]), "depth": rng.choice([4, 5, 6, 7]),
                     "first_conv_stride": rng.choice([2, 2, 1])}
        elif family in ("resnet", "tinynet"):
            knobs = {"alpha": rng.choice([0.25, 0.5, 0.75, 1.0]), "depth": rng.choice([1, 2] if family == "resnet"
                                                                                      else [2, 3, 4])}
        else:
            knobs = {"alpha": rng.choice([0.1, 0.25, 0.35, 0.5])}
        cfg = {"family": family, "knobs": knobs, "size": size} | ({"channels": channels} if channels != 3 else {})
        if cfg not in configs and _arena(cfg) < 1_000_000:
            configs.append(cfg)
    return configs


def _key(cfg: dict) -> str:
    gray = f"x{cfg['channels']}" if cfg.get("channels", 3) != 3 else ""
    return f"{cfg['family']}_{cfg['size']}px{gray}_" + "_".join(f"{k}{v}" for k, v in cfg["knobs"].items())


def _shape(cfg: dict) -> tuple[int, int, int]:
    return cfg["size"], cfg["size"], cfg.get("channels", 3)


def _flatbuffer(cfg: dict) -> bytes:
    from tinyml_kit.compress.quantize import calibration_images, quantize_int8
    from tinyml_kit.nets import build
    from tinyml_kit.pipeline.measure import look_trained

    shape = _shape(cfg)
    model = build(cfg["family"], shape, 10, **cfg["knobs"])
    look_trained(model)
    images = np.random.default_rng(0).integers(0, 256, (8, *shape)).astype(np.uint8)
    return quantize_int8(model, calibration_images(images))


def _arena(cfg: dict) -> int:
    from tinyml_kit.nets import build
    from tinyml_kit.nets.costs import activation_peak_bytes

    return activation_peak_bytes(build(cfg["family"], _shape(cfg), 10, **cfg["knobs"]))


def weights_in_flash(index: int) -> bool:
    """Whether the `index`-th configuration of a draw is built with no weights copied to RAM: every other run of
    HELD_OUT_EVERY, so both placements of a generated convolution's weights are fitted and held out."""
    return (index // HELD_OUT_EVERY) % 2 == 1


def profile(cfg: dict, flatbuffer: bytes, core: str, engine: str, in_flash: bool = False) -> dict:
    """`verify --profile` on one image: the whole inference and each op, with the op's group and features, and the
    generated convolutions the build read their weights from RAM for (none if `in_flash`)."""
    from tinyml_kit.check.tflm import measure_arena
    from tinyml_kit.check.verify import verify_model
    from tinyml_kit.core.boards import get_board
    from tinyml_kit.core.budget import model_ram_bytes
    from tinyml_kit.core.tflite_info import read_graph, read_model
    from tinyml_kit.export.firmware import ModelSource

    info = read_model(flatbuffer)
    arena = measure_arena(flatbuffer)
    board = get_board("stm32n6570-dk")
    # a model RAM of one byte leaves the weights nothing beside the arena (`conv_layout.weight_ram_budget`)
    ram = 1 if in_flash else model_ram_bytes(board)
    src = ModelSource(flatbuffer, info, [str(i) for i in range(10)], arena.total_bytes, arena.alloc_bytes,
                      engine=get_engine(engine), family=CORES[core].family, ram_bytes=ram)
    image = np.random.default_rng(1).integers(-128, 128, (1, *info.inputs[0].shape[1:])).astype(np.int8)
    start = time.perf_counter()
    # room to spare: CMSIS-NN's Helium kernels ask for more scratch than the host's reference kernels measure
    r = verify_model(src, image, board, kernels="cmsis_nn", engine=engine, core=core,
                     profile=True, arena_bytes=2 * arena.alloc_bytes + 65536, memory=REFERENCE_CACHE)
    graph = read_graph(flatbuffer)
    ops = [{"index": p.index, "op": p.op, "instructions": p.instructions, "cycles": p.cycles,
            "flash_misses": p.flash_misses, "flash_loads": p.flash_loads} for p in r.profile.ops]
    row = {"key": _key(cfg), "config": cfg, "core": core, "engine": engine, "bit_exact": r.bit_exact,
            "instructions": r.instructions_per_inference, "cycles": r.cycles.cycles_est,
            "flash_misses": r.cycles.flash_misses, "profile_coverage": r.profile.coverage,
            "arena_used_bytes": r.arena_used_bytes, "arena_host_bytes": arena.total_bytes,
            "ops": ops, "seconds": round(time.perf_counter() - start, 1), "graph": dataclasses.asdict(graph),
            **({"kernels": C_ENGINE_KERNELS, "model_ram_bytes": ram, "ram_weights": _ram_weights(src)}
               if engine == "c" else {})}
    return featurized(row)


def _ram_weights(src) -> list[int]:
    """The op indices of the layers whose weights the C engine's build read from RAM (its steps' kernels, those
    of a residual block's too)."""
    return sorted(s.op_index for step in src.program.steps for s in (step, *step.fused)
                  if s.kernel is not None and s.kernel.weights_in_ram)


def featurized(row: dict) -> dict:
    """`row` with each op's group and features as `solve.instructions` works them out today, from the graph the
    profile keeps (older profiles keep the ones they were profiled with)."""
    if "graph" not in row:   # the features it was profiled with, those added since 0
        for op in row["ops"]:
            op["features"] = dict.fromkeys(FEATURES, 0.0) | op["features"]
        return row
    graph = _graph(row)
    families = op_families(OpCostModel(row["engine"], row["core"], {}), graph)
    ram = set(row.get("ram_weights", ()))
    # a residual block run row by row is one entry at its ADD's index counting all of its ops: not an op to fit
    row["ops"] = [op for op in row["ops"] if op["op"] == graph.ops[op["index"]].kind]
    for op in row["ops"]:
        family, in_ram = families[op["index"]], op["index"] in ram
        op.update(group=op_group(graph, graph.ops[op["index"]], family, in_ram),
                  features=op_features(graph, graph.ops[op["index"]], family, in_ram))
    return row


def _graph(row: dict) -> Graph:
    """The graph a profile keeps."""
    g = row["graph"]
    return Graph(g["name"], [Tensor(**{**t, "shape": tuple(t["shape"])}) for t in g["tensors"]],
                 [Op(**{**o, "inputs": tuple(o["inputs"]), "outputs": tuple(o["outputs"])}) for o in g["ops"]],
                 g["input"], g["output"])


def current(row: dict) -> bool:
    """Whether a profile measured today's kernels: TFLM's (CMSIS-NN) or the C engine's C_ENGINE_KERNELS."""
    return "cycles" in row and (row["engine"] != "c" or row.get("kernels", 1) == C_ENGINE_KERNELS)


def _profiles() -> list[dict]:
    """The latest profile of each model, engine and core (a profile from before the cycle model is replaced by
    one with cycles)."""
    if not PROFILES.exists():
        return []
    with gzip.open(PROFILES, "rt") as f:
        latest = {(r["key"], r["core"], r["engine"]): r for r in map(json.loads, f)}
    return [featurized(r) for r in latest.values()]


def _rewrite(rows: list[dict]) -> None:
    """The profiles file with only the latest of each (appending leaves the replaced ones behind)."""
    with gzip.open(PROFILES, "wt") as f:
        f.writelines(json.dumps(r) + "\n" for r in rows)


def collect(configs: list[dict], cores: list[str], engines: list[str]) -> list[dict]:
    done = _profiles()
    have = {(r["key"], r["core"], r["engine"]) for r in done if current(r)}
    flatbuffers: dict[str, bytes] = {}
    for engine, core in [(e, c) for e in engines for c in cores]:
        for i, cfg in enumerate(configs):   # one engine and core at a time: a stopped run leaves whole tables
            if (_key(cfg), core, engine) in have:
                continue
            if _key(cfg) not in flatbuffers:
                flatbuffers[_key(cfg)] = _flatbuffer(cfg)
            row = profile(cfg, flatbuffers[_key(cfg)], core, engine, weights_in_flash(i))
            print(f"[{i + 1}/{len(configs)}] {row['key']} {engine}/{core}"
                  f"{' (weights in flash)' if weights_in_flash(i) else ''}: {row['instructions']:,} instructions, "
                  f"{row['cycles']:,} cycles, "
                  f"ops cover {row['profile_coverage']:.2%} ({row['seconds']} s)", flush=True)
            with gzip.open(PROFILES, "at") as f:
                f.write(json.dumps(row) + "\n")
            done.append(row)
    rows = _profiles()
    _rewrite(rows)
    return rows


def evaluate(rows: list[dict], held_out: set[str]) -> tuple[list[dict], dict]:
    """Fit per engine and core on the training models; held-out whole-inference errors of instructions and
    cycles (at zero wait states, as profiled)."""
    models, report = [], {}
    for engine, core in sorted({(r["engine"], r["core"]) for r in rows}):
        mine = [r for r in rows if (r["engine"], r["core"]) == (engine, core)]
        fitted = fit_instruction_model(engine, core, [op for r in mine if r["key"] not in held_out
                                                      for op in r["ops"]])
        models.append(fitted)
        model = OpCostModel.from_dict(fitted)
        tested = [r for r in mine if r["key"] in held_out]
        report[f"{engine}/{core}"] = {"train_models": len({r["key"] for r in mine} - held_out),
                                      "held_out_models": len(tested),
                                      **{q: _held_out(model, tested, q) for q in QUANTITIES}}
    return models, report


def _held_out(model: OpCostModel, tested: list[dict], quantity: str) -> dict:
    """Each held-out model's whole-inference `quantity` as measured and as the per-op costs sum it."""
    errors = []
    for r in tested:
        predicted = _predicted(model, r, quantity)
        measured = sum(op[quantity] for op in r["ops"]) if quantity == "flash_loads" else r[quantity]
        errors.append({"model": r["key"], "measured": measured, "predicted": round(predicted),
                       "error": predicted / max(measured, 1) - 1})
    abs_err = [abs(e["error"]) for e in errors]
    if abs_err:
        print(f"{model.engine}/{model.core} {quantity}: {len(errors)} held-out models, median |error| "
              f"{np.median(abs_err):.2%}, max {max(abs_err):.2%}")
    return {"median_abs_error": float(np.median(abs_err)) if abs_err else None,
            "max_abs_error": max(abs_err) if abs_err else None, "held_out": errors}


def _predicted(model: OpCostModel, row: dict, quantity: str) -> float:
    """A profile's whole-inference `quantity` as the latency estimate sums it: every op of its graph (a residual
    block run row by row, which the fit leaves out, costed op by op too), its convolutions' weights where the build
    put them. Flash loads, counted per op only, over the ops profiled."""
    if quantity == "flash_loads" or "graph" not in row:
        return sum(model.cost(op["group"], op["features"], quantity) for op in row["ops"])
    graph = _graph(row)
    counts = model.per_op_counts(graph, (quantity,), op_families(model, graph), frozenset(row.get("ram_weights", ())))
    return sum(counts[quantity])


def resnet8_anchor(rows: list[dict]) -> dict:
    """ResNet-8 measured per engine and core, and predicted on nucleo-l4r5zi beside MLPerf Tiny's published
    latencies."""
    from tinyml_kit.core.boards import get_board
    from tinyml_kit.solve.estimate import estimate_resnet

    for cached in (instruction_table, profiled_cores, load_models):
        cached.cache_clear()   # the table just written
    board = get_board("nucleo-l4r5zi")
    anchor: dict = {"board": board.id, "mlperf_tiny_ms": MLPERF_L4R5_MS}
    for engine, title in (("tflm", "TFLM + CMSIS-NN"), ("c", "the C engine")):
        e = estimate_resnet(1.0, 1, (32, 32, 3), 10, engine=engine, board=board)
        resnet8 = [r for r in rows if r["key"] == _key(RESNET8) and r["engine"] == engine]
        measured = {q: {r["core"]: r[q] for r in resnet8} for q in ("instructions", "cycles")}
        print(f"ResNet-8 on {board.id} ({board.core} @ {board.clock_mhz:g} MHz), {title}: "
              f"{e.latency.instructions:,} instructions, {e.latency.cycles:,} cycles with the board's flash "
              f"predicted (measured on the emulated core: {measured['instructions'].get('m4', 0):,} instructions, "
              f"{measured['cycles'].get('m4', 0):,} cycles at zero wait states), ~{e.latency.ms:.0f} ms")
        anchor[engine] = {"instructions_predicted": e.latency.instructions, "cycles_predicted": e.latency.cycles,
                          "latency_ms_predicted": round(e.latency.ms, 1),
                          "instructions_measured": measured["instructions"],
                          "cycles_measured_zero_wait": measured["cycles"]}
    print("MLPerf Tiny: " + ", ".join(f"{ms:g} ms {what}" for what, ms in MLPERF_L4R5_MS.items()))
    return anchor


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cores", nargs="+", default=list(CORES), choices=list(CORES))
    ap.add_argument("--engines", nargs="+", default=["tflm"], choices=["tflm", "c"])
    ap.add_argument("--count", type=int, default=DEFAULT_COUNT,
                    help="Profile the first COUNT configurations of the draw (and COUNT/5 grayscale ones).")
    ap.add_argument("--fit-only", action="store_true", help="Fit on the profiles already collected.")
    args = ap.parse_args()
    configs = draw(DEFAULT_COUNT) + draw(DEFAULT_COUNT // 5, seed=1, channels=1) + [RESNET8]   # grayscale too
    held_out = {_key(c) for i, c in enumerate(configs) if i % HELD_OUT_EVERY == HELD_OUT_EVERY - 1}
    held_out.add(_key(RESNET8))
    subset = draw(args.count) + draw(args.count // 5, seed=1, channels=1) + [RESNET8]
    rows = _profiles() if args.fit_only else collect(subset, args.cores, args.engines)
    rows = [r for r in rows if current(r)]   # before the cycle model, or the C engine's older kernels
    if not rows:
        raise SystemExit(f"error: {PROFILES} has no profiles with cycles: profile first (without --fit-only)")
    models, report = evaluate(rows, held_out)
    fitted = {(m["engine"], m["core"]) for m in models}
    kept = [m for m in instruction_table()["models"] if (m["engine"], m["core"]) not in fitted]
    if kept:   # an engine and core with no profile of today's kernels keeps its entry until profiled
        print("kept from the previous table (not profiled at today's kernels): " +
              ", ".join(f"{m['engine']}/{m['core']}" for m in kept))
    models += kept
    INSTRUCTION_MODEL_FILE.parent.mkdir(parents=True, exist_ok=True)
    INSTRUCTION_MODEL_FILE.write_text(json.dumps({"source": "bench/latency_model.py", "features": FEATURES,
                                                  "quantities": QUANTITIES, "models": models}, indent=1) + "\n")
    RESULT.write_text(json.dumps({"configs": len(configs), "held_out_every": HELD_OUT_EVERY,
                                  "kernels": "TFLM with CMSIS-NN (tflm); the C engine (c): generated CONV_2D and "
                                             "depthwise kernels on the M4F, M7 and M33, CMSIS-NN's otherwise",
                                  "c_engine_kernels": C_ENGINE_KERNELS,
                                  "results": report, "resnet8": resnet8_anchor(rows)}, indent=1) + "\n")
    print(f"wrote {RESULT} and {INSTRUCTION_MODEL_FILE}")


if __name__ == "__main__":
    main()
