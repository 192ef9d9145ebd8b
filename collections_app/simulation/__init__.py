"""History to learn from: `manage.py simulate --days N [--seed S]` moves the portfolio forward day by
day through the real services (docs/risk.md, "The simulator's hidden propensity").

Modules, one purpose each: `constants` (every effect size), `traits` (hidden traits from a stable
hash of seed and borrower), `propensity` (the pure ground-truth functions), `clock` (the simulated
day's clock, one context manager), `gateway` (a quiet SMS backend), `borrowers` (who pays today),
`collectors` (the staff's day), `day` (the day loop).

Not a service and not a door: only commands and the demo call it; nothing below calls it."""

from .day import SimulationReport, default_start, simulate, simulate_day
from .propensity import Situation, p_answer, p_promise, propensity, propensity_logit, sigmoid
from .traits import Traits, stable_uniform, traits_for

__all__ = [
    "SimulationReport",
    "Situation",
    "Traits",
    "default_start",
    "p_answer",
    "p_promise",
    "propensity",
    "propensity_logit",
    "sigmoid",
    "simulate",
    "simulate_day",
    "stable_uniform",
    "traits_for",
]
