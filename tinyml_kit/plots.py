"""Figures: accuracy vs parameters with the fitted curves and segments, and a board's accuracy frontier."""

from pathlib import Path

from .scaling_law import DOMAIN_MARGIN, ScalingLaw, evaluate


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_scaling_law(law: ScalingLaw, rows: list[dict], path: str | Path) -> Path:
    """Sweep points (held-out ones hollow), one fitted curve per depth, the N-segments as bands."""
    import numpy as np

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    colors = dict(zip(law.depths, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for seg in law.segments:
        ax.axvspan(seg["params_from"], seg["params_to"], color=colors[seg["depth"]], alpha=0.08)
        ax.text(np.sqrt(seg["params_from"] * seg["params_to"]), 0.02, f"N={seg['depth']}", color=colors[seg["depth"]],
                ha="center", transform=ax.get_xaxis_transform())
    for n in law.depths:
        fit = [r for r in rows if r["depth"] == n and not r.get("held_out")]
        held = [r for r in rows if r["depth"] == n and r.get("held_out")]
        ax.scatter([r["params"] for r in fit], [r["accuracy"] for r in fit], color=colors[n], s=18)
        ax.scatter([r["params"] for r in held], [r["accuracy"] for r in held], facecolors="none",
                   edgecolors=colors[n], s=40, label=f"N={n} held out" if held else None)
        lo, hi = law.ranges[n]
        grid = np.logspace(np.log10(lo / DOMAIN_MARGIN), np.log10(hi * DOMAIN_MARGIN), 100)
        ax.plot(grid, evaluate(law.form, law.curves[n], grid), color=colors[n], label=f"N={n}: {law.form}")
    ax.set_xscale("log")
    ax.set_xlabel("parameters")
    ax.set_ylabel("int8 validation accuracy (%)")
    ax.set_title(law.source.get("title", "PhiNet accuracy vs parameters"))
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def plot_frontier(points: list[dict], board_id: str, budgets: dict[str, float], path: str | Path) -> Path:
    """Best predicted accuracy reachable within each amount of flash, arena and latency (each panel its own
    running maximum); the board's limits as dashed lines."""
    from matplotlib.ticker import NullFormatter

    plt = _pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(13, 4), sharey=True)
    for ax, key, label, limit in (
            (axes[0], "flash_bytes_est", "flash (bytes, est.)", budgets["flash"]),
            (axes[1], "arena_alloc_bytes_est", "arena (bytes, est.)", budgets["arena"]),
            (axes[2], "latency_ms_est", f"latency on {board_id} (ms, est.)", budgets["latency_ms"])):
        xs, best = [], []
        for p in sorted(points, key=lambda p: p[key]):
            if not best or p["predicted_accuracy"] > best[-1]:
                xs.append(p[key])
                best.append(p["predicted_accuracy"])
        ax.step(xs, best, where="post")
        ax.scatter(xs, best, s=10)
        ax.axvline(limit, linestyle="--", color="gray")
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("predicted accuracy (%)")
    fig.suptitle(f"What more resources buy: PhiNet frontier ({board_id} limits dashed)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)
