"""A borrower's hidden traits: drawn from a stable hash of (seed, external_id), so nothing is stored
(no migration) and anyone holding the seed can recompute them. Python's `hash()` is salted per
process; blake2b is not."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

from .constants import LIFE_EVENT_CHANCE, LIFE_EVENT_DAYS, LIFE_EVENT_PERIOD_DAYS


def stable_uniform(*parts) -> float:
    """A number in [0, 1) fixed by `parts` (any values with a stable str), the same on every run."""
    digest = hashlib.blake2b("\x1f".join(str(p) for p in parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@dataclass(frozen=True)
class Traits:
    seed: int
    external_id: str
    stability: float  # income stability, 0..1
    willingness: float  # willingness to pay, 0..1

    def life_event_on(self, day: date) -> bool:
        """Whether a life event (job loss, illness) weighs on the borrower that day."""
        ordinal = day.toordinal()
        period, position = divmod(ordinal, LIFE_EVENT_PERIOD_DAYS)
        # Less stable incomes meet life events more often (up to twice the base chance).
        chance = LIFE_EVENT_CHANCE * (2 - self.stability)
        if stable_uniform(self.seed, self.external_id, "life", period) >= chance:
            return False
        start = int(stable_uniform(self.seed, self.external_id, "life-start", period) * LIFE_EVENT_PERIOD_DAYS)
        return start <= position < start + LIFE_EVENT_DAYS


def traits_for(seed: int, external_id: str) -> Traits:
    return Traits(
        seed=seed,
        external_id=external_id,
        stability=stable_uniform(seed, external_id, "stability"),
        willingness=stable_uniform(seed, external_id, "willingness"),
    )
