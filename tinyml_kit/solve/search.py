"""The solver as `solve` and `fit` call it: the families and pins checked against each other, the laws picked,
and what each pin costs.

`--arch resnet8` is ResNet with width 1 and depth 1 pinned; the families without conversion-free estimates
(MobileNets) are not ranked here, and neither are PhiNet's attention and activation other than the laws' own.
"""

from tinyml_kit.core.errors import UserError, param
from tinyml_kit.core.family import RANKED_NAMES, lookup
from tinyml_kit.core.pins import Pin, Search, parse_pin, pinned_families, pins_json
from tinyml_kit.core.record_sections import SearchRecord
from tinyml_kit.core.spec import AUTO, STYLE_DEFAULTS
from tinyml_kit.solve.choice import Choice, NothingFits, make_choice
from tinyml_kit.solve.engines import DEFAULT, Engine, get_engine, require_style
from tinyml_kit.solve.nearest import nearest_fitting, nearest_text
from tinyml_kit.solve.pin_effects import PinEffect, effect_lines, pin_effects
from tinyml_kit.solve.scaling_law import family_laws
from tinyml_kit.solve.solver import Solution, _laws, _screen, solve


def ranked_search(families: tuple[str, ...], pins: dict[str, Pin], asked: tuple[str, ...] = (),
                  engine: Engine | str = DEFAULT) -> Search:
    """The search the solver can rank, for `families` as `core.pins.parse_families` gives them (`asked`: as the
    user asked, if the pins narrowed them already). Refused: a family the solver cannot rank, a pinned knob a named
    family lacks, an attention or activation the laws do not know (`fit` is suggested only for a style whose ops
    `engine` runs: `fit` refuses the others)."""
    styled = [k for k in STYLE_DEFAULTS if k in pins and pins[k].value != STYLE_DEFAULTS[k]]
    if styled:
        require_style({k: pins[k].value for k in styled}, get_engine(engine))
        k = styled[0]
        raise UserError(f"the laws and estimates know PhiNets with {k} {STYLE_DEFAULTS[k]} only: "
                        f"`fit {param('arch', 'phinet')} {param(k, pins[k].value)}` measures each candidate as built",
                        k)
    alias = lookup(families[0]) if len(families) == 1 and families[0] != AUTO else None
    if alias is not None and alias.alias_of:   # one point of a ranked family
        pinned_families(families, pins)   # refuses any pin: the alias has no knobs of its own
        fixed = alias.alias_knobs
        return Search((alias.alias_of,), {k: parse_pin(k, v) for k, v in fixed.items()}, implied=tuple(fixed),
                      asked=(alias.alias_of,))
    unranked = [lookup(f) for f in families if f != AUTO and not lookup(f).ranked]
    if unranked:
        raise UserError(f"{unranked[0].title} has no accuracy law or conversion-free estimates to rank by: "
                        f"`fit {param('arch', unranked[0].name)}` measures its grid (the solver ranks "
                        f"{', '.join(RANKED_NAMES)})", "arch")
    kept = pinned_families(families, pins)    # a style knob, too, applies to PhiNet alone
    return Search(kept, {k: p for k, p in pins.items() if k not in STYLE_DEFAULTS}, asked=asked or families)


def search_laws(search: Search, law=None) -> list:
    """The laws of the searched families, or the user's (which must be one of them; a list is taken as made)."""
    if isinstance(law, list):
        return law
    if law is not None:
        if law.family not in search.families and AUTO not in search.families:
            raise UserError(f"the law given is {lookup(law.family).title}'s, and the search is over "
                            f"{', '.join(lookup(f).title for f in search.families)}: give a sweep of one of them",
                            "law", "arch")
        return [law]
    return [x for f in search.families for x in family_laws(f)]


def solve_search(board, search: Search, budget, input_shape, classes: int, engine: Engine | str = DEFAULT, law=None,
                 runner_ups: int = 4) -> tuple[Solution, list[PinEffect]]:
    """The best configuration within the pins, and what each pin costs (none without pins, nor for the pins a
    family alias implies); a freed pin reopens the families it had closed."""
    try:
        sol = solve(board, input_shape=input_shape, classes=classes, budget=budget, engine=engine,
                    law=search_laws(search, law), runner_ups=runner_ups, pins=search.pins)
    except NothingFits as e:
        if not e.pins or search.implied or not e.in_range:
            raise
        found = nearest_fitting(e.pins, e.budget, e.board, e.input_shape, e.classes, e.laws, e.engine)
        raise UserError(e.closest + nearest_text(found), *e.options) from None
    if search.implied:
        return sol, []
    return sol, pin_effects(sol, search_laws(Search(search.asked or search.families), law))


def pinned_choice(board, search: Search, budget, input_shape, classes: int, engine: Engine | str = DEFAULT,
                  law=None) -> Choice:
    """The estimates and predicted accuracy of a fully pinned configuration, whether it fits or not (`fit`
    measures it next, and refuses it on what it measures)."""
    laws, engine = _laws(search_laws(search, law), search.pins), get_engine(engine)
    (s,) = _screen(laws.values(), input_shape, classes, engine, search.pins)
    return make_choice(s.estimate(input_shape, classes, engine, board), laws[s.family], budget, board)


def explanation(sol: Solution, effects: list[PinEffect], implied: tuple[str, ...] = ()) -> SearchRecord:
    """What report.json and `solve --json` keep of the pins: as given (not those a family alias implies), as
    chosen, and each one's cost."""
    return SearchRecord(pins_json(sol.pins, implied), sol.chosen(), False, [e.cost() for e in effects],
                        [line.strip() for line in effect_lines(sol, effects, header=False)])
