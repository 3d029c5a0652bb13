"""Figures: accuracy vs parameters with the fitted curves and segments, and a board's accuracy frontier."""

import io
from pathlib import Path

import numpy as np

from tinyml_kit.check.analysis import Analysis
from tinyml_kit.solve.scaling_law import DOMAIN_MARGIN, ScalingLaw, evaluate


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_scaling_law(law: ScalingLaw, rows: list[dict], path: str | Path) -> Path:
    """Sweep points (held-out ones hollow), one fitted curve per depth, the N-segments as bands."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 5))
    colors = dict(zip(law.depths, plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False))
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
        if limit is not None:   # no time limit when a MAC limit replaces it
            ax.axvline(limit, linestyle="--", color="gray")
        ax.set_xscale("log")
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("predicted accuracy (%)")
    fig.suptitle(f"What more resources buy: the frontier across families ({board_id} limits dashed)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return Path(path)


def png_bytes(fig) -> bytes:
    """The figure as PNG bytes (for inlining in report.html), closed afterwards."""
    plt = _pyplot()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()


def memory_figure(analysis: Analysis):
    """Per op: planned bytes live while it runs, the planner's high-water mark and the arena's planned head,
    the peak op in red; below, the flash each op's weights take."""
    plt = _pyplot()
    layers = analysis.layers
    idx = [r.index for r in layers]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(11, 6), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    colors = ["#d62728" if i == analysis.peak_layer else "#1f77b4" for i in idx]
    top.bar(idx, [r.live_bytes / 1024 for r in layers], color=colors, label="live tensors + scratch")
    top.step(idx, [r.high_water_bytes / 1024 for r in layers], where="mid", color="black", lw=1,
             label="planner's high-water mark")
    top.axhline(analysis.arena_head_bytes / 1024, ls="--", color="gray",
                label=f"planned activations {analysis.arena_head_bytes:,} B (arena {analysis.arena_bytes:,} B)")
    peak = analysis.peak
    top.annotate(f"peak: op {peak.index} {peak.op}", (peak.index, peak.live_bytes / 1024),
                 xytext=(10, -4), textcoords="offset points", color="#d62728", fontsize=9)
    top.set_ylabel("arena KiB")
    top.legend(fontsize=8, loc="upper right")
    top.grid(alpha=0.3)
    bottom.bar(idx, [r.weight_bytes / 1024 for r in layers], color="#2ca02c")
    bottom.set_ylabel("weights KiB (flash)")
    bottom.set_xlabel("op (execution order)")
    bottom.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def training_figure(history: dict, stages: list[dict] = ()):
    """Loss and accuracy per epoch: training, then each fine-tuning stage (pruning, QAT, distillation) after a
    dotted line named by the stage, so the epochs a compressed model really trained are all on the plot."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
    parts = [("train", history)] + [(s["stage"], s["history"]) for s in stages]
    for ax, key in zip(axes, ("loss", "accuracy"), strict=False):
        start = 0
        for i, (name, h) in enumerate(parts):
            n = max((len(h.get(k, [])) for k in (key, f"val_{key}")), default=0)
            if i:
                ax.axvline(start + 0.5, color="grey", ls=":", lw=1)
                ax.text(start + 0.6, 0.98, name, transform=ax.get_xaxis_transform(), fontsize=7, va="top")
            for k, style, color in ((key, "-", "C0"), (f"val_{key}", "--", "C1")):
                if k in h:
                    ax.plot(range(start + 1, start + len(h[k]) + 1), h[k], style, color=color,
                            label=k if i == 0 else None)
            start += n
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def lr_finder_figure(test: dict):
    """The learning-rate range test: smoothed loss against rate (log scale), the steepest-descent rate, the loss
    minimum, and the rate training used."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    points = [(r, v) for r, v in zip(test["rates"], test["losses"], strict=False) if v is not None]
    ax.plot([r for r, _ in points], [v for _, v in points], color="C0")
    for key, color, label in (("steepest_rate", "C2", "steepest descent"), ("minimum_rate", "C3", "loss minimum"),
                              ("chosen_rate", "C1", "chosen")):
        ax.axvline(test[key], color=color, ls="--", lw=1, label=f"{label}: {test[key]:.2g}")
    ax.set_xscale("log")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("training loss (smoothed)")
    ax.set_title("learning-rate range test")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def confusion_figure(matrix: list[list[int]], class_names: list[str], title: str):
    plt = _pyplot()
    m = np.asarray(matrix)
    n = len(m)
    fig, ax = plt.subplots(figsize=(min(12, 2 + 0.5 * n), min(11, 1.6 + 0.45 * n)))
    ax.imshow(m, cmap="Blues")
    if n <= 20:
        for i in range(n):
            for j in range(n):
                ax.text(j, i, str(m[i, j]), ha="center", va="center", fontsize=8,
                        color="white" if m[i, j] > m.max() / 2 else "black")
    names = [str(c) for c in class_names][:n] + [str(i) for i in range(len(class_names), n)]
    ax.set_xticks(range(n), names, rotation=90 if max(map(len, names)) > 3 else 0, fontsize=8)
    ax.set_yticks(range(n), names, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def gradcam_figure(cam, class_names: list[str]):
    """Columns: classes; top row a correctly classified image, bottom row a misclassified one."""
    plt = _pyplot()
    classes = sorted(set(cam.true))
    fig, axes = plt.subplots(2, len(classes), figsize=(1.6 * len(classes) + 0.6, 3.8), squeeze=False)
    for col, c in enumerate(classes):
        for row, correct in enumerate((True, False)):
            ax = axes[row][col]
            ax.axis("off")
            hits = [k for k, (t, p) in enumerate(zip(cam.true, cam.predicted, strict=True))
                    if t == c and (t == p) == correct]
            if not hits:
                ax.text(0.5, 0.5, "none", ha="center", va="center", fontsize=8, color="gray", transform=ax.transAxes)
                continue
            k = hits[0]
            image = cam.images[k]
            ax.imshow(image[..., 0] if image.shape[-1] == 1 else image, cmap="gray" if image.shape[-1] == 1 else None)
            ax.imshow(cam.heat[k], cmap="jet", alpha=0.45, vmin=0, vmax=1)
            label = class_names[c] if c < len(class_names) else str(c)
            pred = class_names[cam.predicted[k]] if cam.predicted[k] < len(class_names) else str(cam.predicted[k])
            ax.set_title(label if correct else f"{label}→{pred}", fontsize=8, color="black" if correct else "#d62728")
    axes[0][0].text(-0.15, 0.5, "correct", rotation=90, va="center", ha="right", transform=axes[0][0].transAxes)
    axes[1][0].text(-0.15, 0.5, "wrong", rotation=90, va="center", ha="right", transform=axes[1][0].transAxes)
    fig.suptitle(f"Grad-CAM on {cam.layer} (float model, predicted class)", fontsize=10)
    fig.tight_layout()
    return fig


def probes_figure(probes):
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.5))
    labels = [r["block"] for r in probes.rows]
    ax.plot(range(len(labels)), [100 * r["accuracy"] for r in probes.rows], "o-", label="linear probe")
    if probes.model_accuracy is not None:
        ax.axhline(100 * probes.model_accuracy, ls="--", color="gray", label="whole model (float)")
    ticks = [f"{b}\n{r['spatial']}x{r['channels']}" for b, r in zip(labels, probes.rows, strict=True)]
    ax.set_xticks(range(len(labels)), ticks, fontsize=8)
    ax.set_ylabel("validation accuracy (%)")
    ax.set_title("Linear probes on each block's pooled output", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
