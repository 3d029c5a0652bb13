"""What the commands print on stdout when not asked for JSON: tables and lines for a human reader."""

import shlex
import shutil

import click

from tinyml_kit.check.analysis import Analysis, BoardFit, CEngineAnalysis
from tinyml_kit.cli.group import as_flag
from tinyml_kit.core.evaluation import Evaluation, Validation
from tinyml_kit.core.family import lookup
from tinyml_kit.core.fit_advice import CompressSuggestion
from tinyml_kit.core.run_record import RunRecord
from tinyml_kit.core.timing import not_validated


def _console(width: int):
    from rich.console import Console

    return Console(width=shutil.get_terminal_size((width, 24)).columns)


def boards(found: dict) -> None:
    from rich.table import Table

    table = Table(title="Boards: model flash / arena budget = linked memory - runtime and application reserve",
                  caption="flash reads: wait states at the board's clock and what hides them (? = not confirmed "
                          "from its source; boards.yaml cites each)")
    for col in ("id", "core", "MHz", "flash KiB", "SRAM KiB", "model flash KiB", "arena KiB", "flash reads", "fw",
                "board"):
        table.add_column(col, justify="right" if col == "MHz" or "KiB" in col else "left", no_wrap=col != "board")
    for b in found.values():
        budget = (f"{b.flash_budget_bytes / 1024:.0f}", f"{b.arena_budget_bytes / 1024:.0f}") if b.tflm_supported \
            else ("no TFLM", "no TFLM")
        table.add_row(b.id, b.core, f"{b.clock_mhz:g}", f"{b.flash_bytes / 1024:.0f}", f"{b.sram_bytes / 1024:.0f}",
                      *budget, b.memory.summary() if b.memory else "-", b.framework, b.name)
    _console(170).print(table)


def key_values(result: dict, keys=None, width: int = 24) -> None:
    for key in keys or result:
        click.echo(f"{key:>{width}}: {result.get(key)}")


def check(result: Evaluation) -> None:
    d = result.to_dict()   # the JSON's keys, in words a reader of `--json` recognises
    host = tuple(result.host.to_dict()) if result.host else ()
    key_values(d, ("model", "data", "images", "float_accuracy", "int8_accuracy", "agreement", "litert_equals_tflm",
                   "litert_tflm_max_abs_diff", "flash_bytes", "arena_bytes", "arena_alloc_bytes", *host))
    r = result.int8_metrics
    if r is not None:
        click.echo(f"{'int8 macro P/R/F1':>24}: {r.macro_precision:.4f} / {r.macro_recall:.4f} / {r.macro_f1:.4f}")
        click.echo(f"{'int8 confusion':>24}: rows = true class {result.class_names}")
        for row in r.confusion_matrix:
            click.echo(" " * 26 + " ".join(f"{v:4d}" for v in row))


def run(record: RunRecord) -> None:
    click.echo(record.run_dir)


def compress_command(suggestion: CompressSuggestion) -> str:
    """The `compress` line a run's advice suggests, as a shell takes it."""
    return " ".join(["tinyml-kit compress", shlex.quote(suggestion.run_dir),
                     *(as_flag(name, str(value)) for name, value in suggestion.settings().items())])


def analysis(r: Analysis) -> None:
    from rich.table import Table

    table = Table(title=f"{r.model}: per-layer plan (op i runs at step i; live = planned buffers in use)")
    instr = ["instr. est."] if r.latency.instructions_est is not None else []
    instr += ["instr. measured"] if r.measured is not None else []
    instr += ["cycles est."] if r.latency.cycles_est is not None else []
    for col in ("#", "op", "output", "params", "MACs", *instr, "weights B", "act B", "lifetime", "offset", "live B",
                "high-water B", "tensor"):
        table.add_column(col, justify="left" if col in ("op", "output", "tensor", "lifetime") else "right",
                         no_wrap=col != "tensor", overflow="ellipsis")
    for row in r.layers:
        peak = row.index == r.peak_layer
        counts = [f"{n:,}" if n is not None else "-" for n, c in
                  ((row.instructions_est, "instr. est."), (row.instructions_measured, "instr. measured"),
                   (row.cycles_est, "cycles est.")) if c in instr]
        table.add_row(str(row.index), row.op, "x".join(map(str, row.output_shape[1:])), f"{row.params:,}",
                      f"{row.macs:,}", *counts, f"{row.weight_bytes:,}", f"{row.activation_bytes:,}",
                      f"{row.output_first_op}-{row.output_last_op}", f"{row.output_offset:,}",
                      f"{row.live_bytes:,}", f"{row.high_water_bytes:,}" + (" PEAK" if peak else ""),
                      row.name.split(";")[0][-40:], style="bold red" if peak else None)
    console = _console(160)
    console.print(table)
    lines = [
        f"flash {r.flash_bytes:,} B (the compact flatbuffer TFLM firmware links; the .tflite is "
        f"{r.tflite_bytes:,} B) = weights {r.weights_bytes:,} + graph and quantization "
        f"{r.structure_bytes:,}; {r.params:,} stored params, {r.macs:,} MACs, {r.op_count} ops",
        f"arena {r.arena_bytes:,} B measured on TFLM = planned activations {r.arena_head_bytes:,} + "
        f"persistent {r.arena_tail_bytes:,} ({r.arena_alloc_bytes:,} with headroom); input "
        f"{r.input_bytes:,} B, output {r.output_bytes:,} B",
        f"RAM peak at op {r.peak_layer} ({r.peak_op}): " + ", ".join(
            f"{t.bytes:,} B @ {t.offset:,}" for t in r.peak_tensors) + " live",
        *_latency_lines(r),
    ]
    if not r.plan_matches_tflm:
        lines.append(f"note: the replayed plan's head ({r.plan_head_bytes:,} B) differs from TFLM's "
                     f"({r.arena_head_bytes:,} B): a kernel's scratch buffers are not modelled; totals are TFLM's")
    c = r.c_engine
    if c is not None:
        _c_plan(console, c)
        lines.append(f"C engine: model flash {c.flash_bytes:,} B (constants {c.constant_bytes:,}), static arena "
                     f"{c.arena_bytes:,} B (exact, no headroom)")
    if r.board_fit is not None:
        lines.append(_fit_line(r.board_fit, (c.flash_bytes, c.arena_bytes) if c else (r.flash_bytes,
                                                                                      r.arena_alloc_bytes), c))
    for line in lines:
        console.print(line, highlight=False, soft_wrap=True)


def _fit_line(f: BoardFit, used: tuple[int, int], c_engine) -> str:
    flash, arena = used
    return (f"{'FITS' if f.fits else 'DOES NOT FIT'} {f.board}{' (C engine)' if c_engine else ''}: flash {flash:,} / "
            f"{f.flash_budget_bytes:,} B (linked {f.flash_linked_bytes:,} - reserve {f.flash_reserve_bytes:,}), "
            f"margin {f.flash_margin_bytes:,} B ({f.flash_margin_percent:.1f} %); arena "
            f"{arena:,} / {f.arena_budget_bytes:,} B (linked {f.ram_linked_bytes:,} - reserve "
            f"{f.ram_reserve_bytes:,}), margin {f.ram_margin_bytes:,} B ({f.ram_margin_percent:.1f} %)")


def _latency_lines(r: Analysis) -> list[str]:
    lines = []
    est, measured = r.latency, r.measured
    if est.instructions_est is not None:
        lines.append(f"instructions {est.instructions_est:,} predicted on the {est.instructions_core} (TFLM + "
                     f"CMSIS-NN kernels, per op)" + (f"; {measured.instructions_measured:,} measured under QEMU "
                                                    f"({measured.instructions_measured_with})"
                                                    if measured is not None else ""))
    if est.latency_ms_est is not None and r.board_fit is not None:
        basis = (f"{est.cycles_est:,} predicted cycles (flash wait states included)" if est.cycles_est is not None
                 else "MACs (no emulated core)")
        lines.append(f"latency ~{est.latency_ms_est:.1f} ms on {r.board_fit.board}, from {basis}"
                     f"{not_validated(est.instructions_core or '')}")
    return lines


def _c_plan(console, c: CEngineAnalysis) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="C engine: static arena plan, as plan.json records it (steps: the first and last that need "
                        "a buffer; a tensor written over one that dies at that step shares its bytes)")
    for col in ("name", "offset", "bytes", "steps", "holds"):
        table.add_column(col, justify="right" if col in ("offset", "bytes") else "left")
    for b in c.plan["buffers"]:
        holds = (escape(b["tensor"]) if b["kind"] == "tensor" else f"op {b['op']}") + (
            f" (= {b['alias_of']})" if b["alias_of"] else "")
        table.add_row(b["name"], f"{b['offset']:,}", f"{b['bytes']:,}", f"{b['first_op']}-{b['last_op']}", holds)
    console.print(table)


def validation(r: Validation) -> None:
    source = "RANDOM INPUTS (no accuracy)" if r.random_inputs else r.data
    click.echo(f"{r.model}: {r.images} images from {source}")
    if not r.random_inputs:
        click.echo(f"{'runtime':>12} {'kind':>8} {'acc':>8} {'macro P':>8} {'macro R':>8} {'macro F1':>8}")
        for name, m in r.runtimes.items():
            click.echo(f"{name:>12} {m['kind']:>8} {m['accuracy']:8.4f} {m['macro_precision']:8.4f} "
                       f"{m['macro_recall']:8.4f} {m['macro_f1']:8.4f}")
    for name, why in r.skipped.items():
        click.echo(f"{name:>12}: skipped, {why}")
    click.echo(f"{'pair':>24} {'rmse':>10} {'mae':>10} {'l2r':>10} {'cos':>8} {'top-1 agr':>9} {'max diff':>10}")
    for p in r.pairs:
        label = f"{p['a']} vs {p['b']}" + (" *" if p["cross"] else "")
        click.echo(f"{label:>24} {p['rmse']:10.3g} {p['mae']:10.3g} {p['l2r']:10.3g} {p['cos']:8.5f} "
                   f"{p['agreement']:9.2%} {p['max_abs_diff']:10.3g}")
    click.echo("(* cross rows: int8 outputs, dequantized, against the float model's)")
    if not r.random_inputs:
        deployed = r.runtimes["tflm"]
        click.echo(f"TFLM confusion matrix, rows = true class {r.class_names}")
        for row in deployed["confusion_matrix"]:
            click.echo("  " + " ".join(f"{v:4d}" for v in row))


def frontier(points: list[dict], board_id: str) -> None:
    click.echo(f"{'pred. acc':>9} {'params':>11} {'flash est':>11} {'arena est':>10} {'MACs':>12} "
               f"{'ms on ' + board_id:>22}  config                         boards that fit")
    for p in points:
        mark = "*" if p["fits_board"] else " "
        f = lookup(p["family"])
        config = f.short({k: p[k] for k in f.searched})
        fits = ", ".join(p["boards_that_fit"][:4]) + (" …" if len(p["boards_that_fit"]) > 4 else "")
        click.echo(f"{p['predicted_accuracy']:8.1f}%{mark}{p['params']:>11,} {p['flash_bytes_est']:>11,} "
                   f"{p['arena_alloc_bytes_est']:>10,} {p['macs']:>12,} {p['latency_ms_est']:>22.1f}  "
                   f"{config:30s} {fits or '-'}")
    click.echo(f"(* fits {board_id}'s flash and arena limits, tightened by any --max-*; accuracy predicted by the "
               f"scaling law)")


def scaling_law(law) -> None:
    click.echo(law.source.get("title", f"{law.family} accuracy vs parameters"))
    click.echo(f"CV RMSE (accuracy points, {law.source.get('cv', 'random 70/30 splits')}), by form and depth N:")
    click.echo(f"{'form':>24} " + " ".join(f"{'N=' + str(n):>7}" for n in law.depths))
    for form, by_n in law.cv_rmse.items():
        mark = " <- used" if form == law.form else ""
        click.echo(f"{form:>24} " + " ".join(f"{by_n[n]:7.2f}" if n in by_n else f"{'-':>7}" for n in law.depths)
                   + mark)
    if any(n not in by_n for by_n in law.cv_rmse.values() for n in law.depths):
        click.echo("(-: too few configurations at that depth to cross-validate a form with that many coefficients)")
    click.echo("segments (best N by parameter budget, from the fitted curves):")
    for seg in law.segments:
        click.echo(f"  N={seg['depth']}: {seg['params_from']:>10,} - {seg['params_to']:>10,} params")
    if law.held_out:
        click.echo(f"held-out configurations: RMSE {law.held_out['rmse']:.2f} points over "
                   f"{len(law.held_out['rows'])} (max error {law.held_out['max_abs_error']:.2f})")
