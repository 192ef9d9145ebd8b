"""May this action reach this borrower now, on this channel? Pure functions, no I/O.

The caller gathers the facts (borrower's zone and consents, active hold codes, counters) and gets a
`Decision` with a reason code of CONTRACT.md and, where one is known, the next time the action would
be allowed, in the borrower's zone. A "no" is a normal answer, never an exception.

Two presets (sources in DOMAIN.md):
- CHINA: CBA guideline on collection of personal consumer loans (Jan 2026) and the 2025 national
  standard: no contact 22:00-08:00 local without consent; 3 connected calls per borrower per day;
  6 dial attempts per number per day; contact persons only when the borrower is unreachable.
- US: Regulation F (12 CFR 1006): 08:00-21:00 local; more than 7 call attempts in 7 days about a
  debt, or a call within 7 days after a telephone conversation about it, is presumed harassment.
Both: holds stop collection contact (a notice the policy allows still goes); an opt-out stops that
channel.
"""

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

CALL, SMS, EMAIL, VISIT = "call", "sms", "email", "visit"
CHANNELS = (CALL, SMS, EMAIL, VISIT)
COLLECTION, NOTICE = "collection", "notice"


@dataclass(frozen=True)
class Policy:
    name: str
    window_start: time
    window_end: time
    max_connected_calls_per_day: int | None = None
    max_dials_per_number_per_day: int | None = None
    max_call_attempts_per_7_days: int | None = None
    quiet_days_after_conversation: int | None = None
    windowed_channels: tuple = CHANNELS
    visit_min_agents: int = 1


CHINA = Policy(
    name="china",
    window_start=time(8, 0),
    window_end=time(22, 0),
    max_connected_calls_per_day=3,
    max_dials_per_number_per_day=6,
    visit_min_agents=2,
)

US = Policy(
    name="us",
    window_start=time(8, 0),
    window_end=time(21, 0),
    max_call_attempts_per_7_days=7,
    quiet_days_after_conversation=7,
)

PRESETS = {p.name: p for p in (CHINA, US)}

# Holds that stop collection contact. A NOTICE (collection has ended, a remedy will be used) still goes.
CONTACT_STOPPING_HOLDS = frozenset({"dispute", "complaint", "cease_contact", "bankruptcy", "deceased"})


def policy_named(name):
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown contact policy {name!r}; choose one of {sorted(PRESETS)}") from None


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
    """What has already happened, as the rules count it."""

    connected_calls_today: int = 0  # borrower's local day, all collectors and agencies
    dials_to_number_today: int = 0  # to the number about to be dialled, borrower's local day
    call_attempts_7_days: list = field(default_factory=list)  # times of attempts about this debt, last 7 days
    last_conversation_at: datetime | None = None  # last telephone conversation about this debt
    borrower_unreachable: bool = False  # for contact persons (China preset)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    code: str = ""
    next_allowed_at: datetime | None = None

    @classmethod
    def yes(cls):
        return cls(True)

    def as_dict(self):
        return {
            "allowed": self.allowed,
            "code": self.code or None,
            "next_allowed_at": self.next_allowed_at.isoformat() if self.next_allowed_at else None,
        }


def _at_window_start(local_day, zone, policy):
    return datetime.combine(local_day, policy.window_start, tzinfo=zone)


def _in_window(local_now, policy):
    return policy.window_start <= local_now.time() < policy.window_end


def next_window_start(local_now, policy):
    """The next moment the contact window opens, from a local time outside it."""
    zone = local_now.tzinfo
    today_start = _at_window_start(local_now.date(), zone, policy)
    if local_now < today_start:
        return today_start
    return _at_window_start(local_now.date() + timedelta(days=1), zone, policy)


def _tomorrow_window(local_now, zone, policy):
    return _at_window_start(local_now.date() + timedelta(days=1), zone, policy)


def _later_of(moment, zone, policy, consent_after_hours):
    """`moment` if the window is open then, else the window's next opening."""
    local = moment.astimezone(zone)
    if consent_after_hours or _in_window(local, policy):
        return local
    return next_window_start(local, policy)


def check_contact(*, facts, channel, at, counters=Counters(), policy=CHINA, purpose=COLLECTION, to_third_party=False):
    """Decide an outbound contact on `channel` at the aware datetime `at`."""
    zone = ZoneInfo(facts.time_zone)
    local_now = at.astimezone(zone)
    if purpose == COLLECTION and facts.active_hold_codes & CONTACT_STOPPING_HOLDS:
        next_at = _later_of(facts.holds_end_at, zone, policy, facts.consent_after_hours) if facts.holds_end_at else None
        return Decision(False, "case_on_hold", next_at)
    if (channel == SMS and not facts.consent_sms) or (channel == EMAIL and not facts.consent_email):
        return Decision(False, "channel_opted_out", None)
    # Contact persons only when the borrower is unreachable or deceased (CBA guideline).
    if (
        to_third_party
        and policy.name == CHINA.name
        and not counters.borrower_unreachable
        and "deceased" not in facts.active_hold_codes
    ):
        return Decision(False, "third_party_not_allowed", None)
    if channel in policy.windowed_channels and not facts.consent_after_hours and not _in_window(local_now, policy):
        return Decision(False, "outside_contact_hours", next_window_start(local_now, policy))
    if channel == CALL:
        return _check_call(local_now, zone, counters, policy, facts.consent_after_hours)
    return Decision.yes()


def _check_call(local_now, zone, counters, policy, consent_after_hours):
    if (
        policy.max_connected_calls_per_day is not None
        and counters.connected_calls_today >= policy.max_connected_calls_per_day
    ):
        return Decision(False, "daily_call_cap", _tomorrow_window(local_now, zone, policy))
    if (
        policy.max_dials_per_number_per_day is not None
        and counters.dials_to_number_today >= policy.max_dials_per_number_per_day
    ):
        return Decision(False, "daily_dial_cap", _tomorrow_window(local_now, zone, policy))
    if policy.quiet_days_after_conversation and counters.last_conversation_at is not None:
        # The conversation's day is day 1: calls may resume on day quiet_days + 1.
        conversation_day = counters.last_conversation_at.astimezone(zone).date()
        resume_day = conversation_day + timedelta(days=policy.quiet_days_after_conversation)
        resume = (
            datetime.combine(resume_day, time(0), tzinfo=zone)
            if consent_after_hours
            else _at_window_start(resume_day, zone, policy)
        )
        if local_now < resume:
            return Decision(False, "seven_days_after_conversation", resume)
    if policy.max_call_attempts_per_7_days is not None:
        # Elapsed time, in UTC: wall-clock arithmetic would be an hour off across a DST change.
        now_utc = local_now.astimezone(timezone.utc)
        window_start = now_utc - timedelta(days=7)
        recent = sorted(t.astimezone(timezone.utc) for t in counters.call_attempts_7_days)
        recent = [t for t in recent if t > window_start]
        if len(recent) >= policy.max_call_attempts_per_7_days:
            # Allowed again once the oldest attempt that counts falls out of the 7-day window.
            oldest_counting = recent[len(recent) - policy.max_call_attempts_per_7_days]
            free_at = oldest_counting + timedelta(days=7)
            return Decision(False, "seven_in_seven", _later_of(free_at, zone, policy, consent_after_hours))
    return Decision.yes()
