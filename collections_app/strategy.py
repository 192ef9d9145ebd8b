"""Which stage a case belongs in for its days past due.

Issue 3 makes the thresholds data per loan product; until a product has its own, these are used.
"""

from dataclasses import dataclass

REMINDER, CALL, VISIT, LEGAL = "reminder", "call", "visit", "legal"


@dataclass(frozen=True)
class StageThresholds:
    call: int = 8
    visit: int = 31
    legal: int = 61

    def stage_for_dpd(self, dpd):
        """The furthest stage the days past due reach (legal included: it is where review starts)."""
        if dpd >= self.legal:
            return LEGAL
        if dpd >= self.visit:
            return VISIT
        if dpd >= self.call:
            return CALL
        return REMINDER


DEFAULT_THRESHOLDS = StageThresholds()


def opening_stage(dpd, *, on_hold, thresholds=DEFAULT_THRESHOLDS):
    """Where a case opens (or reopens): the DPD's stage capped at visit, since legal always needs an
    approved referral; reminder while a hold is active."""
    if on_hold:
        return REMINDER
    stage = thresholds.stage_for_dpd(dpd)
    return VISIT if stage == LEGAL else stage
