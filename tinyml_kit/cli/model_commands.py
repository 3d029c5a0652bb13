"""Commands that answer without training: `boards`, `inspect`, `solve`, `scaling-law`. Except `inspect --arch`,
which builds the Keras model to count it, none of them loads TensorFlow."""

import logging

import click

from tinyml_kit.cli import show
from tinyml_kit.cli.group import main
from tinyml_kit.cli.params import (
    ARCH_HELP,
    NEW_FILE,
    SHAPE,
    budget_options,
    emit,
    engine_option,
    json_option,
    knob_options,
    pins_from,
)
from tinyml_kit.core.errors import UserError
from tinyml_kit.core.family import NAMES, RANKED_NAMES
from tinyml_kit.core.spec import AUTO

logger = logging.getLogger("tinyml_kit.cli")


@main.command()
@json_option
def boards(as_json: bool):
    """List boards with the flash and arena budgets left for a model."""
    from tinyml_kit.core.boards import load_boards

    found = load_boards()
    emit(as_json, {"boards": [b.to_dict() for b in found.values()]}, lambda: show.boards(found))


@main.command()
@click.argument("model", required=False, type=click.Path(dir_okay=False))
@click.option("--arch", type=click.Choice(NAMES), help="Architecture to build and count.")
@knob_options
@click.option("--input", "input_shape", type=SHAPE, default="32,32,3", show_default=True, help="Input H,W,C.")
@click.option("--classes", default=10, show_default=True, type=click.IntRange(2))
@click.option("--board", "board_id", help="With --arch: also its predicted cycles and latency on this board.")
@json_option
def inspect(model, arch, input_shape, classes, board_id, as_json, **knobs):
    """Costs of an architecture (--arch ... with single knob values) or of an int8 MODEL.tflite (size, measured
    arena, ops)."""
    from tinyml_kit.pipeline.inspection import inspect_arch

    pins = pins_from(knobs)
    if model and (arch or pins):
        raise UserError("give either MODEL.tflite or --arch with its knobs, not both")
    if model and board_id:
        raise UserError("--board goes with --arch; for a MODEL.tflite on a board use `tinyml-kit analyze MODEL "
                        "--board ID`", "board_id")
    if model:
        from tinyml_kit.pipeline.inspection import inspect_tflite

        result = inspect_tflite(model)
    elif arch:
        result = inspect_arch(arch, input_shape, classes, board_id, **fixed_knobs(pins))
    else:
        raise UserError("nothing to inspect: pass MODEL.tflite or --arch NAME")
    emit(as_json, result, lambda: show.key_values(result, width=18))


def fixed_knobs(pins: dict) -> dict:
    """`inspect` builds one model: every knob given must be one value."""
    for k, p in pins.items():
        if not p.fixed:
            raise UserError(f"inspect builds one model: give --{k.replace('_', '-')} one value, not "
                            f"{p.describe()} (fit and solve search lists and ranges)", k)
    return {k: p.value for k, p in pins.items()}


@main.command()
@budget_options
@click.option("--arch", "--family", "arch", default=AUTO, show_default=True, help=ARCH_HELP)
@knob_options
@click.option("--input", "input_shape", type=SHAPE, default="32,32,3", show_default=True, help="Model input H,W,C.")
@click.option("--classes", default=10, show_default=True, type=click.IntRange(2))
@click.option("--frontier", is_flag=True, help="Print the accuracy a larger budget would buy instead.")
@click.option("--plot", type=NEW_FILE, help="With --frontier: draw it to this .png.")
@engine_option
@click.option("--law", help="Accuracy law to rank by: a sweep directory or its law.json; its family alone is "
              "ranked (default: every shipped CIFAR-10 law, PhiNet, ResNet and TinyNet together).")
@json_option
def solve(board, max_flash, max_ram, max_macs, max_latency_ms, arch, input_shape, classes, frontier, plot, engine,
          law, as_json, **knobs):
    """The network (PhiNet: alpha, beta, t0, depth; ResNet and TinyNet: width, depth) with the highest predicted
    accuracy whose estimated flash, arena and MACs fit BOARD, with runner-ups, the binding constraint and each other
    family's best fitting configuration. Knobs given are pinned, the rest searched, and each pin's cost is said.
    No training, no TensorFlow."""
    from tinyml_kit.core.boards import get_board
    from tinyml_kit.core.budget import make_budget
    from tinyml_kit.core.pins import parse_families
    from tinyml_kit.solve.pin_effects import effect_lines
    from tinyml_kit.solve.scaling_law import ScalingLaw
    from tinyml_kit.solve.search import explanation, ranked_search, solve_search
    from tinyml_kit.solve.summary import solution_summary

    pins = pins_from(knobs)
    b = get_board(board)
    search = ranked_search(parse_families(arch), pins, engine=engine)
    accuracy_law = ScalingLaw.load(law) if law else None
    if plot and not frontier:
        raise UserError("--plot draws the frontier: add --frontier")
    if frontier and (pins or arch != AUTO):
        raise UserError("--frontier ranks every family over its whole grid: drop --arch and the knobs", "frontier")
    budget = make_budget(b, max_flash, max_ram, max_macs, max_latency_ms)
    if frontier:
        _frontier(b, budget, input_shape, classes, plot, as_json, engine, accuracy_law)
        return
    sol, effects = solve_search(b, search, budget, input_shape, classes, engine, accuracy_law)
    emit(as_json, {**sol.to_dict(), **explanation(sol, effects, search.implied).to_dict()},
         lambda: click.echo("\n".join(solution_summary(sol) + effect_lines(sol, effects))))


def _frontier(board, budget, input_shape, classes: int, plot: str | None, as_json: bool, engine: str, law) -> None:
    from tinyml_kit.solve.solver import frontier

    points = frontier(board, input_shape, classes, budget=budget, engine=engine, law=law)
    if plot:
        from tinyml_kit.pipeline.plots import plot_frontier

        limits = {"flash": budget.flash_bytes, "arena": budget.arena_bytes,
                  "latency_ms": budget.latency_ms}
        logger.info(f"wrote {plot_frontier(points, board.id, limits, plot)}")
    emit(as_json, {"board": board.id, "input_shape": list(input_shape), "classes": classes, "points": points},
         lambda: show.frontier(points, board.id))


@main.command("scaling-law")
@click.option("--plot", type=NEW_FILE, help="Draw accuracy vs parameters to this .png.")
@click.option("--law", "law_path", help="A sweep directory or its law.json (default: the shipped CIFAR-10 law of "
              "--arch).")
@click.option("--arch", type=click.Choice(RANKED_NAMES),
              help="Whose shipped law, without --law (default: phinet); with --law, the family it must be of.")
@json_option
def scaling_law(plot, law_path, arch, as_json):
    """An accuracy-vs-parameters fit: CV RMSE of each form per depth, the depth segments, held-out error."""
    from tinyml_kit.core.resources import SCALING_LAW_FILES
    from tinyml_kit.solve.scaling_law import ScalingLaw, family_laws, law_file
    from tinyml_kit.solve.sweep_rows import load_sweep

    law_path = law_path or SCALING_LAW_FILES[arch or "phinet"]
    law = ScalingLaw.load(law_path)
    family_laws(arch or AUTO, law)   # a law of another family than --arch names is refused, as `solve` does
    if plot:
        from tinyml_kit.pipeline.plots import plot_scaling_law

        sweep_dir = law_file(law_path).parent   # a law is drawn over its sweep's results beside it
        if not (sweep_dir / "results.jsonl").is_file():
            raise UserError(f"{sweep_dir} has no results.jsonl to draw the law over: give the sweep directory the "
                            f"law was fitted in", "law")
        rows = load_sweep(sweep_dir, law.source.get("metric", "int8_accuracy"))
        logger.info(f"wrote {plot_scaling_law(law, rows, plot)}")
    emit(as_json, law.to_dict(), lambda: show.scaling_law(law))
