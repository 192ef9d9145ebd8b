"""May this action reach this borrower now, on this channel? Pure functions, no I/O.

The caller gathers the facts (borrower's zone and consents, active hold codes, today's counters)
and gets a `Decision` with a reason code of CONTRACT.md and, where one is known, the next time the
action would be allowed (in the borrower's zone). A "no" is a normal answer, never an exception.
Rules and their sources: DOMAIN.md. Issue 3 adds the per-portfolio policy presets (Regulation F).
"""
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

CALL, SMS, EMAIL, VISIT = "call", "sms", "email", "visit"
CHANNELS = (CALL, SMS, EMAIL, VISIT)


@dataclass(frozen=True)
class Policy:
    name: str
    window_start: time
    window_end: time
    max_connected_calls_per_day: int | None
    max_dials_per_number_per_day: int | None
    # Channels the contact window applies to (e-mail is not intrusive at night under the CBA guideline).
    windowed_channels: tuple = (CALL, SMS, VISIT)


# CBA guideline (Jan 2026) and the 2025 national standard: 08:00-22:00 local, 3 connected calls a
# day per borrower, 6 dial attempts a day per unanswered number.
CHINA = Policy(
    name="china",
    window_start=time(8, 0),
    window_end=time(22, 0),
    max_connected_calls_per_day=3,
    max_dials_per_number_per_day=6,
)

# Holds that stop all collection contact. Every hold code stops it under the default policy.
CONTACT_STOPPING_HOLDS = frozenset({"dispute", "complaint", "cease_contact", "bankruptcy", "deceased"})


@dataclass(frozen=True)
class BorrowerFacts:
    time_zone: str
    consent_after_hours: bool
    consent_sms: bool
    consent_email: bool
    active_hold_codes: frozenset = frozenset()
    # The latest end among active holds; None when any is open-ended.
    holds_end_at: datetime | None = None


@dataclass(frozen=True)
class Counters:
    """Counts for the borrower's local day of the contemplated action."""

    connected_calls_today: int = 0
    dials_to_number_today: int = 0


@dataclass(frozen=True)
class Decision:
    allowed: bool
    code: str = ""
    next_allowed_at: datetime | None = None

    @classmethod
    def yes(cls):
        return cls(True)


def _next_window_start(local_now, policy):
    start_today = local_now.replace(hour=policy.window_start.hour, minute=policy.window_start.minute,
                                    second=0, microsecond=0)
    return start_today if local_now < start_today else start_today + timedelta(days=1)


def _in_window(local_now, policy):
    return policy.window_start <= local_now.time() < policy.window_end


def check_contact(*, facts, channel, at, counters=Counters(), policy=CHINA):
    """Decide an outbound contact on `channel` at the aware datetime `at`."""
    zone = ZoneInfo(facts.time_zone)
    local_now = at.astimezone(zone)
    if facts.active_hold_codes & CONTACT_STOPPING_HOLDS:
        next_at = facts.holds_end_at.astimezone(zone) if facts.holds_end_at else None
        return Decision(False, "case_on_hold", next_at)
    if (channel == SMS and not facts.consent_sms) or (channel == EMAIL and not facts.consent_email):
        return Decision(False, "channel_opted_out", None)
    if channel in policy.windowed_channels and not facts.consent_after_hours and not _in_window(local_now, policy):
        return Decision(False, "outside_contact_hours", _next_window_start(local_now, policy))
    if channel == CALL:
        tomorrow = _next_window_start(local_now.replace(hour=23, minute=59), policy)
        if (policy.max_connected_calls_per_day is not None
                and counters.connected_calls_today >= policy.max_connected_calls_per_day):
            return Decision(False, "daily_call_cap", tomorrow)
        if (policy.max_dials_per_number_per_day is not None
                and counters.dials_to_number_today >= policy.max_dials_per_number_per_day):
            return Decision(False, "daily_dial_cap", tomorrow)
    return Decision.yes()
