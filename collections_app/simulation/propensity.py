"""The hidden propensity: pure functions of a borrower's traits and their situation that day.

`propensity(traits, situation)` is the chance the borrower pays today what is asked of them (the
whole overdue amount, a promised amount, a plan's instalment, or an instalment falling due today):
the simulation draws against it, and tests (and the risk work) use it as the ground truth a model is
measured against. The weights are in constants.py."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date

from . import constants as k
from .traits import Traits

ASKED = ("overdue", "promise", "plan_instalment", "due")
_ASKED_EFFECT = {"overdue": 0.0, "promise": k.PROMISE_EFFECT, "plan_instalment": k.PLAN_EFFECT, "due": k.DUE_EFFECT}


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


@dataclass(frozen=True)
class Situation:
    """What the borrower faces on `day`: what is asked, how late they are, and what the system did to
    them lately (days since the last reminder sent, conversation, visit that met them; None: never
    or longer ago than anyone remembers)."""

    day: date
    asked: str = "overdue"
    dpd: int = 0
    days_since_reminder: int | None = None
    days_since_conversation: int | None = None
    days_since_visit: int | None = None


def _recent(days, memory):
    return days is not None and 0 <= days < memory


def _traits_logit(traits: Traits) -> float:
    return k.STABILITY_WEIGHT * (traits.stability - 0.5) + k.WILLINGNESS_WEIGHT * (traits.willingness - 0.5)


def propensity_logit(traits: Traits, situation: Situation) -> float:
    s = situation
    x = k.BASE_LOGIT + _traits_logit(traits) + _ASKED_EFFECT[s.asked]
    x += k.DPD_EFFECT_PER_30_DAYS * min(max(s.dpd, 0), k.DPD_CAP) / 30
    if traits.life_event_on(s.day):
        x += k.LIFE_EVENT_EFFECT
    if _recent(s.days_since_reminder, k.REMINDER_MEMORY_DAYS):
        x += k.REMINDER_EFFECT
    if _recent(s.days_since_conversation, k.CALL_MEMORY_DAYS):
        x += k.CALL_EFFECT
    if _recent(s.days_since_visit, k.VISIT_MEMORY_DAYS):
        x += k.VISIT_EFFECT
    return x


def propensity(traits: Traits, situation: Situation) -> float:
    """The chance (0..1) that the borrower pays today what is asked of them."""
    return sigmoid(propensity_logit(traits, situation))


def p_answer(traits: Traits, day: date) -> float:
    """The chance the borrower picks up a collector's call that day."""
    x = k.ANSWER_LOGIT + k.ANSWER_WILLINGNESS_WEIGHT * (traits.willingness - 0.5)
    if traits.life_event_on(day):
        x += k.ANSWER_LIFE_EVENT_EFFECT
    return sigmoid(x)


def p_promise(traits: Traits) -> float:
    """The chance a conversation ends with a promise to pay."""
    return sigmoid(k.PROMISE_LOGIT + k.PROMISE_WILLINGNESS_WEIGHT * (traits.willingness - 0.5))


def wants_plan(traits: Traits, day: date, dpd: int) -> bool:
    """A conversation with a borrower in hardship, well past due, ends in a plan rather than a promise."""
    return dpd >= k.PLAN_MIN_DPD and (traits.life_event_on(day) or traits.stability < k.PLAN_STABILITY_BELOW)
