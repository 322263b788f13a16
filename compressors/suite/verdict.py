"""Judge: a variant's figures against its budget, as one typed verdict the run stores and the plugin enforces."""

from __future__ import annotations

from dataclasses import dataclass, replace

from compressors.measure import budgets
from compressors.measure.budgets import DEFAULT_MAX_MACHINE_LOAD, Budget, Check, Status
from compressors.measure.figures import Figures


@dataclass(frozen=True)
class Verdict:
    """Every budget's check, and the figures that record them (`checks`, `violations`, `shortfalls`)."""

    figures: Figures
    checks: tuple[Check, ...] = ()

    @property
    def failed(self) -> tuple[Check, ...]:
        """Broken budgets, shortfalls worse than their margin and shortfalls that meet their target."""
        return tuple(c for c in self.checks if c.failed)

    @property
    def short(self) -> tuple[Check, ...]:
        """Known shortfalls within their margin."""
        return tuple(c for c in self.checks if c.status is Status.SHORT)

    @property
    def inconclusive(self) -> tuple[Check, ...]:
        """Wall-clock budgets timed on a busy machine: neither passed nor failed."""
        return tuple(c for c in self.checks if c.status is Status.INCONCLUSIVE)


def judge(figures: Figures, budget: Budget | None, max_machine_load: float = DEFAULT_MAX_MACHINE_LOAD) -> Verdict:
    """The variant's budget judged against its figures (no budget: nothing to judge)."""
    checks = tuple(budgets.judge(figures.variant, budget, figures, max_machine_load)) if budget is not None else ()
    figures = replace(
        figures,
        checks=tuple(c.record() for c in checks),
        violations=tuple(str(c) for c in checks if c.failed),
        shortfalls=tuple(str(c) for c in checks if c.status is Status.SHORT),
    )
    return Verdict(figures, checks)
