"""The one answer to "does it fit?": each measured figure against its limit, with the margin.

`fit` and `compress` judge a run against its budget (flash, arena, MACs), `analyze` a .tflite against a board's
model budgets, `verify` an ELF against the board's linked memory, and `choose` a candidate before training; all
of them ask `fits()`, so "fits" means the same everywhere: every figure at or below its limit.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    """One figure against its limit."""
    used: int | float
    limit: int | float

    @property
    def ok(self) -> bool:
        return self.used <= self.limit

    @property
    def margin(self) -> int | float:
        return self.limit - self.used

    @property
    def margin_percent(self) -> float:
        return round(100 * self.margin / self.limit, 2) if self.limit else 0.0


@dataclass(frozen=True)
class Verdict:
    checks: dict[str, Check]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks.values())

    @property
    def misses(self) -> list[str]:
        return [name for name, c in self.checks.items() if not c.ok]

    def to_dict(self) -> dict[str, bool]:
        """{figure: fits}, as report.json's `fits` holds it."""
        return {name: c.ok for name, c in self.checks.items()}

    def __getitem__(self, name: str) -> Check:
        return self.checks[name]


def fits(**figures: tuple[int | float, int | float]) -> Verdict:
    """`fits(flash=(used, limit), arena=(used, limit), ...)`: each figure judged against its limit."""
    return Verdict({name: Check(used, limit) for name, (used, limit) in figures.items()})
