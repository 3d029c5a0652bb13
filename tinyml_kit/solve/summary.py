"""A solution in words, for the terminal: the choice with each estimate beside its limit, the runner-ups, and why
the other families lost."""

from tinyml_kit.core.family import lookup
from tinyml_kit.core.timing import not_validated
from tinyml_kit.solve.solver import Solution


def solution_summary(sol: Solution) -> list[str]:
    """Lines for the terminal: the choice, each estimate next to its limit, the runner-ups."""
    b, e = sol.best, sol.best.estimate
    note = (f" ({b.basis})" if b.basis else " (extrapolated, up to 1.35x beyond the sweep at this depth)"
            if b.extrapolated else "")
    interval = f" (± {b.interval:.1f})" if b.interval is not None else ""
    ceiling = "the pins allow" if sol.pins else "the scaling laws cover"
    lines = [f"{sol.board.id}: {e.describe()} predicted accuracy {b.predicted_accuracy:.1f} %{interval}{note}, binding "
             f"constraint: {sol.binding}"
             + (f" (the most accurate network {ceiling} fits)" if sol.binding == "none" else ""),
             f"  params {e.params:,}",
             f"  flash  {e.flash_bytes_est:>11,} B est.  limit {sol.budget.flash_bytes:>11,} B  "
             f"({100 * b.utilization['flash']:.0f} %; "
             + e.engine.words.flash_estimate + ")",
             f"  arena  {b.arena_alloc_bytes_est:>11,} B est.  limit {sol.budget.arena_bytes:>11,} B  "
             f"({100 * b.utilization['arena']:.0f} %; "
             + e.engine.words.arena_estimate.format(used=e.arena_bytes_est) + ")",
             _macs_line(sol), _latency_line(sol)]
    if sol.runner_ups:
        lines.append("  runner-ups:")
        for r in sol.runner_ups:
            x = r.estimate
            lines.append(f"    {x.describe()}: {r.predicted_accuracy:.1f} %, {x.params:,} params, flash "
                         f"{x.flash_bytes_est:,} B, arena {r.arena_alloc_bytes_est:,} B, {x.macs:,} MACs")
    lines += other_families(sol)
    lines.append(f"  ({sol.evaluated} configurations estimated in full, {sol.seconds * 1000:.0f} ms)")
    return lines



def _macs_line(sol: Solution) -> str:
    b, e = sol.best, sol.best.estimate
    if sol.budget.macs is None:
        return f"  MACs   {e.macs:>11,}     no limit"
    return f"  MACs   {e.macs:>11,}     limit {sol.budget.macs:>11,}    ({100 * b.utilization['macs']:.0f} %)"


def _latency_line(sol: Solution) -> str:
    b, budget = sol.best, sol.budget
    if b.latency.cycles is None:
        return f"  time   ~{b.latency_ms_est:.1f} ms est. from MACs (no emulated core stands for {sol.board.core})"
    limit = (f"limit {budget.cycles:>11,}    ({100 * b.utilization['latency']:.0f} %; "
             f"{budget.latency_ms:g} ms)" if "latency" in b.utilization else "no limit (the MAC limit replaces it)")
    return (f"  cycles {b.latency.cycles:>11,} est. {limit}  ~{b.latency_ms_est:.1f} ms at "
            f"{sol.board.clock_mhz:g} MHz ({b.latency.instructions:,} instructions){not_validated(sol.board.core)}")


def other_families(sol: Solution) -> list[str]:
    """Why the other ranked families lost: each one's most accurate fitting configuration and its deficit."""
    best = sol.best
    others = {f: c for f, c in sol.families.items() if f != best.family}
    if not others:
        return []
    lines = ["  other families (each one's most accurate configuration that fits):"]
    for f, c in others.items():
        lines.append(f"    {lookup(f).title}: " + (
            f"{c.estimate.describe()}, {c.predicted_accuracy:.1f} % predicted "
            f"({c.predicted_accuracy - best.predicted_accuracy:+.1f} points), {c.estimate.params:,} params, "
            f"{c.estimate.macs:,} MACs" if c else "none fits"))
    return lines
