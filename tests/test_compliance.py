"""Table-driven tests for the pure contact-compliance engine (collections_app/compliance.py).

Rules under test: DOMAIN.md "Contact rules" (China CBA guideline 2026 / national standard 2025;
US Regulation F) and the reason codes of CONTRACT.md. The module does no I/O, so nothing here
touches the database.

Conventions: every `at` is written as an explicit UTC instant (the server runs in UTC; the borrower
is judged in their own zone), and every expected `next_allowed_at` is written as the ISO string the
API would show, in the borrower's offset.
"""

import json
from datetime import datetime, timedelta, timezone

import pytest

from collections_app import compliance as c
from collections_app.compliance import (
    CALL,
    CHANNELS,
    CHINA,
    EMAIL,
    NOTICE,
    SMS,
    US,
    VISIT,
    BorrowerFacts,
    Counters,
    Decision,
    check_contact,
    policy_named,
)

UTC = timezone.utc
SH = "Asia/Shanghai"
NY = "America/New_York"
HOLD_CODES = ("dispute", "complaint", "cease_contact", "bankruptcy", "deceased")


def utc(y, mo, d, h=0, mi=0):
    return datetime(y, mo, d, h, mi, tzinfo=UTC)


def iso_utc(text):
    """'2026-12-01T08:00Z' -> aware UTC datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def facts(tz=SH, *, after_hours=False, sms=True, email=True, holds=(), holds_end_at=None):
    return BorrowerFacts(
        time_zone=tz,
        consent_after_hours=after_hours,
        consent_sms=sms,
        consent_email=email,
        active_hold_codes=frozenset(holds),
        holds_end_at=holds_end_at,
    )


def offset_hours(dt):
    return dt.utcoffset() / timedelta(hours=1)


def assert_refused(decision, code, next_iso):
    assert decision.allowed is False
    assert decision.code == code
    if next_iso is None:
        assert decision.next_allowed_at is None
    else:
        assert decision.next_allowed_at is not None
        assert decision.next_allowed_at.isoformat() == next_iso
        # Same instant, and the offset printed is the real one for that instant.
        expected = datetime.fromisoformat(next_iso)
        assert decision.next_allowed_at == expected
        assert decision.next_allowed_at.utcoffset() == expected.utcoffset()


def assert_allowed(decision):
    assert decision == Decision(True, "", None)
    assert decision.allowed is True


# ---------------------------------------------------------------------------------------------
# China preset: contact window 08:00-22:00 borrower local time
# ---------------------------------------------------------------------------------------------

# Asia/Shanghai is UTC+8 all year: local 07:59 on 1 Dec = 23:59 UTC on 30 Nov.
CHINA_WINDOW_EDGES = [
    # (at UTC, local time, allowed, expected next_allowed_at)
    ("2026-11-30T23:59Z", "07:59", False, "2026-12-01T08:00:00+08:00"),
    ("2026-12-01T00:00Z", "08:00", True, None),
    ("2026-12-01T13:59Z", "21:59", True, None),
    ("2026-12-01T14:00Z", "22:00", False, "2026-12-02T08:00:00+08:00"),
    ("2026-12-01T15:59Z", "23:59", False, "2026-12-02T08:00:00+08:00"),
    ("2026-12-01T16:00Z", "00:00", False, "2026-12-02T08:00:00+08:00"),
    ("2026-12-01T19:00Z", "03:00", False, "2026-12-02T08:00:00+08:00"),
]


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("at, local_label, allowed, next_iso", CHINA_WINDOW_EDGES)
def test_china_window_edges_for_every_channel(channel, at, local_label, allowed, next_iso):
    d = check_contact(facts=facts(SH), channel=channel, at=iso_utc(at), policy=CHINA)
    if allowed:
        assert_allowed(d)
    else:
        assert_refused(d, "outside_contact_hours", next_iso)
        assert offset_hours(d.next_allowed_at) == 8


def test_china_is_the_default_policy():
    # 22:30 Shanghai is refused by CHINA (window ends 22:00); US would also refuse, so also check
    # 21:30, which only CHINA allows.
    at = iso_utc("2026-12-01T13:30Z")  # 21:30 local
    assert_allowed(check_contact(facts=facts(SH), channel=CALL, at=at))
    assert check_contact(facts=facts(SH), channel=CALL, at=at, policy=US).code == "outside_contact_hours"


@pytest.mark.parametrize("policy", [CHINA, US], ids=["china", "us"])
@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize(
    "at",
    [
        "2026-11-30T23:59Z",  # 07:59
        "2026-12-01T14:00Z",  # 22:00
        "2026-12-01T19:00Z",  # 03:00
    ],
)
def test_consent_after_hours_lifts_the_window(policy, channel, at):
    at = iso_utc(at)
    without = check_contact(facts=facts(SH), channel=channel, at=at, policy=policy)
    assert without.code == "outside_contact_hours"
    assert_allowed(check_contact(facts=facts(SH, after_hours=True), channel=channel, at=at, policy=policy))


# Borrowers in zones other than the server's (UTC) and other than China's standard time, with `at`
# given in UTC: each is judged by their own wall clock. Asia/Urumqi is UTC+6 in the tz database.
ZONE_CASES = [
    # (zone, at UTC, allowed, next_allowed_at in the borrower's offset, offset hours)
    (SH, "2026-11-30T23:59Z", False, "2026-12-01T08:00:00+08:00", 8),
    (SH, "2026-12-01T00:00Z", True, None, None),
    (SH, "2026-12-01T14:00Z", False, "2026-12-02T08:00:00+08:00", 8),
    # 01:59Z is 07:59 in Urumqi (but 09:59 in Shanghai: must still be refused).
    ("Asia/Urumqi", "2026-12-01T01:59Z", False, "2026-12-01T08:00:00+06:00", 6),
    ("Asia/Urumqi", "2026-12-01T02:00Z", True, None, None),
    # 15:59Z is 21:59 in Urumqi (23:59 in Shanghai: must still be allowed).
    ("Asia/Urumqi", "2026-12-01T15:59Z", True, None, None),
    ("Asia/Urumqi", "2026-12-01T16:00Z", False, "2026-12-02T08:00:00+06:00", 6),
    # Los Angeles in December is UTC-8; the local calendar day lags the UTC one in the evening.
    ("America/Los_Angeles", "2026-12-01T15:59Z", False, "2026-12-01T08:00:00-08:00", -8),
    ("America/Los_Angeles", "2026-12-01T16:00Z", True, None, None),
    ("America/Los_Angeles", "2026-12-02T05:59Z", True, None, None),  # 21:59 on 1 Dec
    ("America/Los_Angeles", "2026-12-02T06:00Z", False, "2026-12-02T08:00:00-08:00", -8),  # 22:00 on 1 Dec
    ("America/Los_Angeles", "2026-12-02T10:00Z", False, "2026-12-02T08:00:00-08:00", -8),  # 02:00 on 2 Dec
    # London: GMT in winter, BST (+01:00) in summer.
    ("Europe/London", "2026-12-01T07:59Z", False, "2026-12-01T08:00:00+00:00", 0),
    ("Europe/London", "2026-12-01T08:00Z", True, None, None),
    ("Europe/London", "2026-07-01T06:59Z", False, "2026-07-01T08:00:00+01:00", 1),
    ("Europe/London", "2026-07-01T07:00Z", True, None, None),
    ("Europe/London", "2026-07-01T20:59Z", True, None, None),
    ("Europe/London", "2026-07-01T21:00Z", False, "2026-07-02T08:00:00+01:00", 1),
]


@pytest.mark.parametrize("zone, at, allowed, next_iso, offset", ZONE_CASES)
def test_china_window_is_judged_in_the_borrowers_zone(zone, at, allowed, next_iso, offset):
    d = check_contact(facts=facts(zone), channel=CALL, at=iso_utc(at), policy=CHINA)
    if allowed:
        assert_allowed(d)
    else:
        assert_refused(d, "outside_contact_hours", next_iso)
        assert offset_hours(d.next_allowed_at) == offset


@pytest.mark.parametrize("at_zone", ["UTC", SH, "Asia/Tokyo", "America/Los_Angeles"])
def test_the_zone_of_at_itself_does_not_matter(at_zone):
    """The same instant expressed in any zone gives the same decision (07:59 in Urumqi)."""
    from zoneinfo import ZoneInfo

    at = iso_utc("2026-12-01T01:59Z").astimezone(ZoneInfo(at_zone))
    d = check_contact(facts=facts("Asia/Urumqi"), channel=SMS, at=at)
    assert_refused(d, "outside_contact_hours", "2026-12-01T08:00:00+06:00")


# ---------------------------------------------------------------------------------------------
# US preset: 08:00-21:00 at the consumer's location, daylight-saving changes
# ---------------------------------------------------------------------------------------------

# New York in December is UTC-5.
US_WINDOW_EDGES = [
    ("2026-12-01T12:59Z", "07:59", False, "2026-12-01T08:00:00-05:00"),
    ("2026-12-01T13:00Z", "08:00", True, None),
    ("2026-12-02T01:59Z", "20:59", True, None),
    ("2026-12-02T02:00Z", "21:00", False, "2026-12-02T08:00:00-05:00"),
    ("2026-12-02T02:59Z", "21:59", False, "2026-12-02T08:00:00-05:00"),  # allowed in China, not here
]


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("at, local_label, allowed, next_iso", US_WINDOW_EDGES)
def test_us_window_edges_for_every_channel(channel, at, local_label, allowed, next_iso):
    d = check_contact(facts=facts(NY), channel=channel, at=iso_utc(at), policy=US)
    if allowed:
        assert_allowed(d)
    else:
        assert_refused(d, "outside_contact_hours", next_iso)


# 2026: clocks in New York spring forward on Sun 8 March (02:00 EST -> 03:00 EDT) and fall back
# on Sun 1 November (02:00 EDT -> 01:00 EST).
US_DST_CASES = [
    # Same UTC clock time 12:30 on both sides of the spring change: 07:30 EST vs 08:30 EDT.
    ("2026-03-07T12:30Z", False, "2026-03-07T08:00:00-05:00"),  # Sat 07:30 EST
    ("2026-03-08T12:30Z", True, None),  # Sun 08:30 EDT
    ("2026-03-08T11:30Z", False, "2026-03-08T08:00:00-04:00"),  # Sun 07:30 EDT
    ("2026-03-08T12:00Z", True, None),  # Sun 08:00 EDT exactly
    # Refused the evening before the change: next opening is after it, so -04:00.
    ("2026-03-08T02:00Z", False, "2026-03-08T08:00:00-04:00"),  # Sat 21:00 EST
    ("2026-03-08T07:30Z", False, "2026-03-08T08:00:00-04:00"),  # Sun 03:30 EDT, just after the jump
    ("2026-03-08T00:59Z", True, None),  # Sat 19:59 EST
    # Same UTC clock time 12:30 on both sides of the autumn change: 08:30 EDT vs 07:30 EST.
    ("2026-10-31T12:30Z", True, None),  # Sat 08:30 EDT
    ("2026-11-01T12:30Z", False, "2026-11-01T08:00:00-05:00"),  # Sun 07:30 EST
    ("2026-11-01T12:59Z", False, "2026-11-01T08:00:00-05:00"),  # Sun 07:59 EST
    ("2026-11-01T13:00Z", True, None),  # Sun 08:00 EST exactly
    ("2026-11-01T01:00Z", False, "2026-11-01T08:00:00-05:00"),  # Sat 21:00 EDT
    ("2026-11-01T06:30Z", False, "2026-11-01T08:00:00-05:00"),  # Sun 01:30 EST (second 01:30)
    ("2026-11-02T01:59Z", True, None),  # Sun 20:59 EST
    ("2026-11-02T02:00Z", False, "2026-11-02T08:00:00-05:00"),  # Sun 21:00 EST
]


@pytest.mark.parametrize("channel", [CALL, SMS])
@pytest.mark.parametrize("at, allowed, next_iso", US_DST_CASES)
def test_us_window_across_daylight_saving_changes(channel, at, allowed, next_iso):
    d = check_contact(facts=facts(NY), channel=channel, at=iso_utc(at), policy=US)
    if allowed:
        assert_allowed(d)
    else:
        assert_refused(d, "outside_contact_hours", next_iso)


@pytest.mark.parametrize(
    "at, next_utc",
    [
        ("2026-03-08T02:00Z", "2026-03-08T12:00Z"),  # 08:00 EDT
        ("2026-11-01T01:00Z", "2026-11-01T13:00Z"),  # 08:00 EST
    ],
)
def test_us_next_allowed_at_is_the_right_instant_across_dst(at, next_utc):
    d = check_contact(facts=facts(NY), channel=CALL, at=iso_utc(at), policy=US)
    assert d.next_allowed_at == iso_utc(next_utc)
    # And asking again at that instant is allowed.
    assert_allowed(check_contact(facts=facts(NY), channel=CALL, at=d.next_allowed_at, policy=US))


# ---------------------------------------------------------------------------------------------
# China caps: 3 connected calls per borrower per day, 6 dial attempts per number per day
# ---------------------------------------------------------------------------------------------

NOON_SH = iso_utc("2026-12-01T04:00Z")  # 12:00 Shanghai
NEXT_MORNING_SH = "2026-12-02T08:00:00+08:00"

CHINA_CAP_CASES = [
    # (connected_calls_today, dials_to_number_today, expected code or None)
    (0, 0, None),
    (2, 0, None),
    (3, 0, "daily_call_cap"),
    (4, 0, "daily_call_cap"),
    (0, 5, None),
    (2, 5, None),
    (0, 6, "daily_dial_cap"),
    (0, 9, "daily_dial_cap"),
    (3, 6, "daily_call_cap"),  # both exceeded: the connected-call cap is reported
]


@pytest.mark.parametrize("connected, dials, code", CHINA_CAP_CASES)
def test_china_daily_caps_on_calls(connected, dials, code):
    counters = Counters(connected_calls_today=connected, dials_to_number_today=dials)
    d = check_contact(facts=facts(SH), channel=CALL, at=NOON_SH, counters=counters, policy=CHINA)
    if code is None:
        assert_allowed(d)
    else:
        assert_refused(d, code, NEXT_MORNING_SH)


@pytest.mark.parametrize(
    "zone, at, next_iso",
    [
        (SH, "2026-12-01T00:00Z", "2026-12-02T08:00:00+08:00"),  # 08:00: still tomorrow, not today
        (SH, "2026-12-01T13:59Z", "2026-12-02T08:00:00+08:00"),  # 21:59
        ("Asia/Urumqi", "2026-12-01T15:00Z", "2026-12-02T08:00:00+06:00"),  # 21:00 Urumqi, 23:00 Shanghai
        ("America/Los_Angeles", "2026-12-02T05:00Z", "2026-12-02T08:00:00-08:00"),  # 21:00 on 1 Dec LA
    ],
)
@pytest.mark.parametrize(
    "counters, code",
    [
        (Counters(connected_calls_today=3), "daily_call_cap"),
        (Counters(dials_to_number_today=6), "daily_dial_cap"),
    ],
)
def test_china_cap_next_allowed_at_is_the_next_local_morning(zone, at, next_iso, counters, code):
    d = check_contact(facts=facts(zone), channel=CALL, at=iso_utc(at), counters=counters, policy=CHINA)
    assert_refused(d, code, next_iso)


@pytest.mark.parametrize("channel", [SMS, EMAIL, VISIT])
def test_china_caps_apply_to_calls_only(channel):
    counters = Counters(connected_calls_today=3, dials_to_number_today=6)
    assert_allowed(check_contact(facts=facts(SH), channel=channel, at=NOON_SH, counters=counters, policy=CHINA))
    # Sanity: the very same counters do stop a call.
    assert not check_contact(facts=facts(SH), channel=CALL, at=NOON_SH, counters=counters, policy=CHINA).allowed


def test_us_preset_ignores_the_china_caps():
    counters = Counters(connected_calls_today=10, dials_to_number_today=20)
    at = iso_utc("2026-12-01T17:00Z")  # 12:00 New York
    assert_allowed(check_contact(facts=facts(NY), channel=CALL, at=at, counters=counters, policy=US))
    assert check_contact(facts=facts(NY), channel=CALL, at=at, counters=counters, policy=CHINA).code == "daily_call_cap"


# ---------------------------------------------------------------------------------------------
# US: more than 7 call attempts in 7 consecutive days
# ---------------------------------------------------------------------------------------------

NOW_NY = iso_utc("2026-12-10T15:00Z")  # Thu 10 Dec 10:00 EST; the 7-day window opens at 3 Dec 15:00Z


def attempts(*texts):
    return [iso_utc(t) for t in texts]


# Six attempts comfortably inside the window (one a day, 11:00 EST).
SIX_RECENT = attempts(
    "2026-12-04T16:00Z",
    "2026-12-05T16:00Z",
    "2026-12-06T16:00Z",
    "2026-12-07T16:00Z",
    "2026-12-08T16:00Z",
    "2026-12-09T16:00Z",
)

SEVEN_IN_SEVEN_CASES = [
    # (id, prior attempts, expected next_allowed_at or None when allowed, consent_after_hours)
    ("no attempts", [], None, False),
    ("6 prior: 7th allowed", SIX_RECENT, None, False),
    (
        "7 prior: 8th refused, free when the oldest leaves",
        attempts("2026-12-03T16:00Z") + SIX_RECENT,
        "2026-12-10T11:00:00-05:00",
        False,
    ),
    ("7 prior, oldest exactly 7 days old: does not count", attempts("2026-12-03T15:00Z") + SIX_RECENT, None, False),
    (
        "7 prior, oldest 1 minute inside the window",
        attempts("2026-12-03T15:01Z") + SIX_RECENT,
        "2026-12-10T10:01:00-05:00",
        False,
    ),
    ("7 prior, oldest 8 days old: does not count", attempts("2026-12-02T16:00Z") + SIX_RECENT, None, False),
    (
        "many old attempts never count",
        attempts(*[f"2026-11-{d:02d}T16:00Z" for d in range(1, 30)]) + SIX_RECENT,
        None,
        False,
    ),
    (
        "8 prior: free when the second oldest leaves",
        attempts("2026-12-03T16:00Z", "2026-12-03T18:00Z") + SIX_RECENT,
        "2026-12-10T13:00:00-05:00",
        False,
    ),
    (
        "7 prior, unsorted input",
        list(reversed(attempts("2026-12-03T16:00Z") + SIX_RECENT)),
        "2026-12-10T11:00:00-05:00",
        False,
    ),
    (
        "oldest leaves at 20:30 local: in the window, kept",
        attempts("2026-12-04T01:30Z") + SIX_RECENT,
        "2026-12-10T20:30:00-05:00",
        False,
    ),
    (
        "oldest leaves at 22:00 local: moved to next morning",
        attempts("2026-12-04T03:00Z") + SIX_RECENT,
        "2026-12-11T08:00:00-05:00",
        False,
    ),
    (
        "oldest leaves at 21:00 local exactly: moved to next morning",
        attempts("2026-12-04T02:00Z") + SIX_RECENT,
        "2026-12-11T08:00:00-05:00",
        False,
    ),
    (
        "oldest leaves at 06:00 local next day: moved to 08:00 that day",
        attempts("2026-12-04T11:00Z") + SIX_RECENT[1:] + attempts("2026-12-04T17:00Z"),
        "2026-12-11T08:00:00-05:00",
        False,
    ),
    (
        "after-hours consent: night time kept as is",
        attempts("2026-12-04T03:00Z") + SIX_RECENT,
        "2026-12-10T22:00:00-05:00",
        True,
    ),
]


@pytest.mark.parametrize(
    "prior, next_iso, after_hours",
    [pytest.param(p, n, a, id=i) for i, p, n, a in SEVEN_IN_SEVEN_CASES],
)
def test_us_seven_in_seven(prior, next_iso, after_hours):
    d = check_contact(
        facts=facts(NY, after_hours=after_hours),
        channel=CALL,
        at=NOW_NY,
        counters=Counters(call_attempts_7_days=prior),
        policy=US,
    )
    if next_iso is None:
        assert_allowed(d)
    else:
        assert_refused(d, "seven_in_seven", next_iso)


@pytest.mark.parametrize(
    "prior",
    [
        attempts("2026-12-03T16:00Z") + SIX_RECENT,
        attempts("2026-12-03T16:00Z", "2026-12-03T18:00Z") + SIX_RECENT,
    ],
)
def test_us_seven_in_seven_next_allowed_at_is_the_first_allowed_moment(prior):
    counters = Counters(call_attempts_7_days=prior)
    d = check_contact(facts=facts(NY), channel=CALL, at=NOW_NY, counters=counters, policy=US)
    assert d.code == "seven_in_seven"
    before = check_contact(
        facts=facts(NY), channel=CALL, at=d.next_allowed_at - timedelta(minutes=1), counters=counters, policy=US
    )
    assert before.code == "seven_in_seven"
    assert_allowed(check_contact(facts=facts(NY), channel=CALL, at=d.next_allowed_at, counters=counters, policy=US))


# Seven daily attempts at 10:00 local straddling a daylight-saving change, given as UTC instants (as
# the database returns them). Asked one day after the last of them.
DST_SEVEN = {
    # Spring: 5..11 March 10:00 local (EST up to 7 March, EDT from 8 March). The oldest, 5 March
    # 10:00 EST = 15:00Z, leaves a rolling 7-day window at 12 March 15:00Z = 11:00 EDT.
    "spring": (
        attempts(
            "2026-03-05T15:00Z",
            "2026-03-06T15:00Z",
            "2026-03-07T15:00Z",
            "2026-03-08T14:00Z",
            "2026-03-09T14:00Z",
            "2026-03-10T14:00Z",
            "2026-03-11T14:00Z",
        ),
        iso_utc("2026-03-12T13:30Z"),  # 09:30 EDT
    ),
    # Autumn: 28 Oct..3 Nov 10:00 local (EDT up to 31 Oct, EST from 1 Nov). The oldest, 28 Oct
    # 10:00 EDT = 14:00Z, leaves a rolling 7-day window at 4 Nov 14:00Z = 09:00 EST.
    "autumn": (
        attempts(
            "2026-10-28T14:00Z",
            "2026-10-29T14:00Z",
            "2026-10-30T14:00Z",
            "2026-10-31T14:00Z",
            "2026-11-01T15:00Z",
            "2026-11-02T15:00Z",
            "2026-11-03T15:00Z",
        ),
        iso_utc("2026-11-04T13:30Z"),  # 08:30 EST
    ),
}


@pytest.mark.parametrize("season", ["spring", "autumn"])
def test_us_seven_in_seven_refuses_and_points_after_the_dst_change(season):
    prior, at = DST_SEVEN[season]
    d = check_contact(facts=facts(NY), channel=CALL, at=at, counters=Counters(call_attempts_7_days=prior), policy=US)
    assert d.allowed is False and d.code == "seven_in_seven"
    assert offset_hours(d.next_allowed_at) == (-4 if season == "spring" else -5)


@pytest.mark.parametrize("season", ["spring", "autumn"])
def test_us_seven_in_seven_next_allowed_at_is_consistent_across_dst(season):
    prior, at = DST_SEVEN[season]
    counters = Counters(call_attempts_7_days=prior)
    d = check_contact(facts=facts(NY), channel=CALL, at=at, counters=counters, policy=US)
    assert d.code == "seven_in_seven"
    # Rolling 7 days = the oldest attempt + 7 x 24 h.
    assert d.next_allowed_at == prior[0] + timedelta(days=7)
    just_before = d.next_allowed_at - timedelta(minutes=1)
    assert (
        check_contact(facts=facts(NY), channel=CALL, at=just_before, counters=counters, policy=US).code
        == "seven_in_seven"
    )
    assert_allowed(check_contact(facts=facts(NY), channel=CALL, at=d.next_allowed_at, counters=counters, policy=US))


@pytest.mark.parametrize("channel", [SMS, EMAIL, VISIT])
def test_us_seven_in_seven_counts_calls_only(channel):
    counters = Counters(call_attempts_7_days=attempts("2026-12-03T16:00Z") + SIX_RECENT)
    assert_allowed(check_contact(facts=facts(NY), channel=channel, at=NOW_NY, counters=counters, policy=US))


def test_china_preset_ignores_seven_in_seven():
    counters = Counters(call_attempts_7_days=attempts("2026-12-03T16:00Z") + SIX_RECENT)
    assert_allowed(check_contact(facts=facts(NY), channel=CALL, at=NOW_NY, counters=counters, policy=CHINA))
    assert (
        check_contact(facts=facts(NY), channel=CALL, at=NOW_NY, counters=counters, policy=US).code == "seven_in_seven"
    )


# ---------------------------------------------------------------------------------------------
# US: no call within 7 days after a telephone conversation (conversation day = day 1)
# ---------------------------------------------------------------------------------------------

CONVERSATION = iso_utc("2026-12-01T20:00Z")  # Tue 1 Dec 15:00 EST: day 1
DAY8_MORNING = "2026-12-08T08:00:00-05:00"

CONVERSATION_CASES = [
    # (at UTC, local description, expected code or None)
    ("2026-12-01T20:30Z", "day 1 15:30", "seven_days_after_conversation"),
    ("2026-12-02T15:00Z", "day 2 10:00", "seven_days_after_conversation"),
    ("2026-12-05T15:00Z", "day 5 10:00", "seven_days_after_conversation"),
    ("2026-12-07T13:00Z", "day 7 08:00", "seven_days_after_conversation"),
    ("2026-12-08T01:59Z", "day 7 20:59", "seven_days_after_conversation"),
    ("2026-12-08T12:59Z", "day 8 07:59", "outside_contact_hours"),  # hours are checked first
    ("2026-12-08T13:00Z", "day 8 08:00", None),
    ("2026-12-08T20:00Z", "day 8 15:00", None),
    ("2026-12-15T15:00Z", "day 15", None),
]


@pytest.mark.parametrize("at, label, code", CONVERSATION_CASES)
def test_us_seven_days_after_conversation(at, label, code):
    d = check_contact(
        facts=facts(NY), channel=CALL, at=iso_utc(at), counters=Counters(last_conversation_at=CONVERSATION), policy=US
    )
    if code is None:
        assert_allowed(d)
    else:
        assert_refused(d, code, DAY8_MORNING)


@pytest.mark.parametrize(
    "conversation, at, code, next_iso",
    [
        # 23:30 EST on 1 Dec is already 2 Dec in UTC: day 1 is the borrower's 1 Dec.
        ("2026-12-02T04:30Z", "2026-12-08T13:00Z", None, None),
        ("2026-12-02T04:30Z", "2026-12-07T20:00Z", "seven_days_after_conversation", DAY8_MORNING),
        # Spring forward in between: day 8 morning is in EDT.
        ("2026-03-02T15:00Z", "2026-03-06T15:00Z", "seven_days_after_conversation", "2026-03-09T08:00:00-04:00"),
        ("2026-03-02T15:00Z", "2026-03-09T12:00Z", None, None),  # 08:00 EDT day 8
        # Fall back in between: day 8 morning is in EST.
        ("2026-10-27T15:00Z", "2026-11-02T15:00Z", "seven_days_after_conversation", "2026-11-03T08:00:00-05:00"),
        ("2026-10-27T15:00Z", "2026-11-03T13:00Z", None, None),  # 08:00 EST day 8
        # Conversation recorded in another zone's notation: same instant, same answer.
        ("2026-12-02T04:00:00+08:00", "2026-12-07T20:00Z", "seven_days_after_conversation", DAY8_MORNING),
    ],
)
def test_us_conversation_day_is_the_borrowers_local_day(conversation, at, code, next_iso):
    counters = Counters(last_conversation_at=datetime.fromisoformat(conversation.replace("Z", "+00:00")))
    d = check_contact(facts=facts(NY), channel=CALL, at=iso_utc(at), counters=counters, policy=US)
    if code is None:
        assert_allowed(d)
    else:
        assert_refused(d, code, next_iso)


@pytest.mark.parametrize("channel", [SMS, EMAIL, VISIT])
@pytest.mark.parametrize("at", ["2026-12-01T20:30Z", "2026-12-04T15:00Z", "2026-12-07T20:00Z"])
def test_us_conversation_rule_does_not_touch_other_channels(channel, at):
    d = check_contact(
        facts=facts(NY),
        channel=channel,
        at=iso_utc(at),
        counters=Counters(last_conversation_at=CONVERSATION),
        policy=US,
    )
    assert_allowed(d)


def test_china_preset_has_no_conversation_quiet_period():
    counters = Counters(last_conversation_at=iso_utc("2026-12-01T02:00Z"))  # 10:00 Shanghai
    at = iso_utc("2026-12-01T06:00Z")  # 14:00 Shanghai, same day
    assert_allowed(check_contact(facts=facts(SH), channel=CALL, at=at, counters=counters, policy=CHINA))


def test_us_conversation_quiet_period_ends_at_midnight_with_after_hours_consent():
    d = check_contact(
        facts=facts(NY, after_hours=True),
        channel=CALL,
        at=iso_utc("2026-12-08T12:00Z"),  # 07:00 day 8
        counters=Counters(last_conversation_at=CONVERSATION),
        policy=US,
    )
    assert_allowed(d)


# ---------------------------------------------------------------------------------------------
# Holds
# ---------------------------------------------------------------------------------------------

HOLD_END_UTC = iso_utc("2026-12-15T02:00Z")

HOLD_END_CASES = [
    # (zone, policy, at, holds_end_at, expected next)
    (SH, CHINA, NOON_SH, HOLD_END_UTC, "2026-12-15T10:00:00+08:00"),
    (SH, CHINA, NOON_SH, None, None),
    ("Asia/Urumqi", CHINA, NOON_SH, HOLD_END_UTC, "2026-12-15T08:00:00+06:00"),
    (NY, US, iso_utc("2026-12-01T17:00Z"), iso_utc("2026-12-15T14:00Z"), "2026-12-15T09:00:00-05:00"),
    (NY, US, iso_utc("2026-12-01T17:00Z"), None, None),
    # Hold end given in the lender's zone, borrower elsewhere: still the borrower's offset.
    (
        "Europe/London",
        CHINA,
        iso_utc("2026-12-01T12:00Z"),
        datetime.fromisoformat("2026-12-15T18:00:00+08:00"),
        "2026-12-15T10:00:00+00:00",
    ),
]


@pytest.mark.parametrize("code", HOLD_CODES)
@pytest.mark.parametrize("zone, policy, at, end, next_iso", HOLD_END_CASES)
def test_every_hold_code_refuses_collection_contact(code, zone, policy, at, end, next_iso):
    d = check_contact(facts=facts(zone, holds=[code], holds_end_at=end), channel=CALL, at=at, policy=policy)
    assert_refused(d, "case_on_hold", next_iso)


@pytest.mark.parametrize("channel", CHANNELS)
@pytest.mark.parametrize("policy", [CHINA, US], ids=["china", "us"])
def test_hold_stops_every_channel(channel, policy):
    at = iso_utc("2026-12-01T17:00Z")  # 01:00 Shanghai, 12:00 New York
    d = check_contact(facts=facts(NY, holds=["cease_contact"]), channel=channel, at=at, policy=policy)
    assert_refused(d, "case_on_hold", None)


def test_several_holds_refuse_once_with_the_given_end():
    d = check_contact(
        facts=facts(SH, holds=["dispute", "complaint"], holds_end_at=HOLD_END_UTC), channel=SMS, at=NOON_SH
    )
    assert_refused(d, "case_on_hold", "2026-12-15T10:00:00+08:00")


def test_an_unknown_hold_code_does_not_stop_contact():
    assert_allowed(check_contact(facts=facts(SH, holds=["vip"]), channel=CALL, at=NOON_SH))


NOTICE_CASES = [
    # (code, channel, at, facts kwargs, expected code or None, expected next)
    ("dispute", CALL, NOON_SH, {}, None, None),
    ("cease_contact", SMS, NOON_SH, {}, None, None),
    ("bankruptcy", EMAIL, NOON_SH, {}, None, None),
    ("deceased", VISIT, NOON_SH, {}, None, None),
    # ... but the window still applies,
    ("cease_contact", EMAIL, iso_utc("2026-12-01T14:30Z"), {}, "outside_contact_hours", "2026-12-02T08:00:00+08:00"),
    ("complaint", CALL, iso_utc("2026-11-30T23:00Z"), {}, "outside_contact_hours", "2026-12-01T08:00:00+08:00"),
    # ... unless the borrower consented to after-hours contact,
    ("complaint", CALL, iso_utc("2026-11-30T23:00Z"), {"after_hours": True}, None, None),
    # ... and opt-outs still apply.
    ("cease_contact", SMS, NOON_SH, {"sms": False}, "channel_opted_out", None),
    ("dispute", EMAIL, NOON_SH, {"email": False}, "channel_opted_out", None),
]


@pytest.mark.parametrize("hold, channel, at, kwargs, code, next_iso", NOTICE_CASES)
def test_a_notice_passes_a_hold_but_not_hours_or_opt_outs(hold, channel, at, kwargs, code, next_iso):
    f = facts(SH, holds=[hold], holds_end_at=HOLD_END_UTC, **kwargs)
    # Sanity: the same contact for collection is stopped by the hold.
    assert check_contact(facts=f, channel=channel, at=at).code == "case_on_hold"
    d = check_contact(facts=f, channel=channel, at=at, purpose=NOTICE)
    if code is None:
        assert_allowed(d)
    else:
        assert_refused(d, code, next_iso)


# ---------------------------------------------------------------------------------------------
# Opt-outs
# ---------------------------------------------------------------------------------------------

OPT_OUT_CASES = [
    # (consent_sms, consent_email, channel, refused?)
    (False, True, SMS, True),
    (False, True, EMAIL, False),
    (False, True, CALL, False),
    (False, True, VISIT, False),
    (True, False, EMAIL, True),
    (True, False, SMS, False),
    (True, False, CALL, False),
    (True, False, VISIT, False),
    (False, False, SMS, True),
    (False, False, EMAIL, True),
    (False, False, CALL, False),
    (True, True, SMS, False),
    (True, True, EMAIL, False),
]


@pytest.mark.parametrize(
    "policy, zone, at",
    [
        (CHINA, SH, NOON_SH),
        (US, NY, iso_utc("2026-12-01T17:00Z")),
    ],
    ids=["china", "us"],
)
@pytest.mark.parametrize("sms, email, channel, refused", OPT_OUT_CASES)
def test_opt_out_stops_that_channel_only(policy, zone, at, sms, email, channel, refused):
    d = check_contact(facts=facts(zone, sms=sms, email=email), channel=channel, at=at, policy=policy)
    if refused:
        assert_refused(d, "channel_opted_out", None)
    else:
        assert_allowed(d)


# ---------------------------------------------------------------------------------------------
# Third parties (contact persons), China preset
# ---------------------------------------------------------------------------------------------

THIRD_PARTY_CASES = [
    # (policy, borrower_unreachable, channel, expected code or None)
    (CHINA, False, CALL, "third_party_not_allowed"),
    (CHINA, False, SMS, "third_party_not_allowed"),
    (CHINA, False, VISIT, "third_party_not_allowed"),
    (CHINA, True, CALL, None),
    (CHINA, True, SMS, None),
    (US, False, CALL, None),
]


@pytest.mark.parametrize("policy, unreachable, channel, code", THIRD_PARTY_CASES)
def test_third_party_only_when_borrower_unreachable(policy, unreachable, channel, code):
    at = iso_utc("2026-12-01T17:00Z") if policy is US else NOON_SH
    zone = NY if policy is US else SH
    counters = Counters(borrower_unreachable=unreachable)
    d = check_contact(facts=facts(zone), channel=channel, at=at, counters=counters, policy=policy, to_third_party=True)
    if code is None:
        assert_allowed(d)
    else:
        assert_refused(d, code, None)
    # The same contact to the borrower themself is allowed.
    assert_allowed(check_contact(facts=facts(zone), channel=channel, at=at, counters=counters, policy=policy))


def test_third_party_contact_still_respects_hours():
    d = check_contact(
        facts=facts(SH),
        channel=CALL,
        at=iso_utc("2026-12-01T14:30Z"),  # 22:30
        counters=Counters(borrower_unreachable=True),
        to_third_party=True,
    )
    assert_refused(d, "outside_contact_hours", "2026-12-02T08:00:00+08:00")


def test_third_party_notice_allowed_when_borrower_is_deceased():
    d = check_contact(
        facts=facts(SH, holds=["deceased"]),
        channel=CALL,
        at=NOON_SH,
        counters=Counters(borrower_unreachable=False),
        purpose=NOTICE,
        to_third_party=True,
    )
    assert_allowed(d)


# ---------------------------------------------------------------------------------------------
# Order of precedence when several rules apply: hold > opt-out > hours (> call rules)
# ---------------------------------------------------------------------------------------------

NIGHT_SH = iso_utc("2026-12-01T15:00Z")  # 23:00 Shanghai

PRECEDENCE_CASES = [
    # (id, facts, channel, at, counters, policy, kwargs, code, next)
    (
        "hold > opt-out > hours",
        facts(SH, sms=False, holds=["dispute"], holds_end_at=HOLD_END_UTC),
        SMS,
        NIGHT_SH,
        Counters(),
        CHINA,
        {},
        "case_on_hold",
        "2026-12-15T10:00:00+08:00",
    ),
    (
        "hold > opt-out",
        facts(SH, email=False, holds=["complaint"]),
        EMAIL,
        NOON_SH,
        Counters(),
        CHINA,
        {},
        "case_on_hold",
        None,
    ),
    ("hold > hours", facts(SH, holds=["bankruptcy"]), CALL, NIGHT_SH, Counters(), CHINA, {}, "case_on_hold", None),
    ("opt-out > hours", facts(SH, sms=False), SMS, NIGHT_SH, Counters(), CHINA, {}, "channel_opted_out", None),
    (
        "hold > caps",
        facts(SH, holds=["dispute"]),
        CALL,
        NOON_SH,
        Counters(connected_calls_today=3, dials_to_number_today=6),
        CHINA,
        {},
        "case_on_hold",
        None,
    ),
    (
        "hold > third party",
        facts(SH, holds=["dispute"]),
        CALL,
        NOON_SH,
        Counters(),
        CHINA,
        {"to_third_party": True},
        "case_on_hold",
        None,
    ),
    (
        "opt-out > third party",
        facts(SH, sms=False),
        SMS,
        NOON_SH,
        Counters(),
        CHINA,
        {"to_third_party": True},
        "channel_opted_out",
        None,
    ),
    (
        "hours > caps",
        facts(SH),
        CALL,
        NIGHT_SH,
        Counters(connected_calls_today=3),
        CHINA,
        {},
        "outside_contact_hours",
        "2026-12-02T08:00:00+08:00",
    ),
    (
        "hours > seven-in-seven",
        facts(NY),
        CALL,
        iso_utc("2026-12-10T03:00Z"),
        Counters(call_attempts_7_days=attempts("2026-12-03T16:00Z") + SIX_RECENT[:-1] + attempts("2026-12-09T15:00Z")),
        US,
        {},
        "outside_contact_hours",
        "2026-12-10T08:00:00-05:00",
    ),
    (
        "hold > conversation",
        facts(NY, holds=["cease_contact"]),
        CALL,
        iso_utc("2026-12-02T15:00Z"),
        Counters(last_conversation_at=CONVERSATION),
        US,
        {},
        "case_on_hold",
        None,
    ),
]


@pytest.mark.parametrize(
    "f, channel, at, counters, policy, kwargs, code, next_iso",
    [pytest.param(*row[1:], id=row[0]) for row in PRECEDENCE_CASES],
)
def test_order_of_precedence(f, channel, at, counters, policy, kwargs, code, next_iso):
    d = check_contact(facts=f, channel=channel, at=at, counters=counters, policy=policy, **kwargs)
    assert_refused(d, code, next_iso)


# ---------------------------------------------------------------------------------------------
# Decision.as_dict (the API's shape) and policy_named
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "f, channel, at, expected",
    [
        (
            facts(SH),
            CALL,
            iso_utc("2026-11-30T23:59Z"),
            {"allowed": False, "code": "outside_contact_hours", "next_allowed_at": "2026-12-01T08:00:00+08:00"},
        ),
        (facts(SH), CALL, NOON_SH, {"allowed": True, "code": None, "next_allowed_at": None}),
        (facts(SH, sms=False), SMS, NOON_SH, {"allowed": False, "code": "channel_opted_out", "next_allowed_at": None}),
        (
            facts(SH, holds=["dispute"], holds_end_at=HOLD_END_UTC),
            EMAIL,
            NOON_SH,
            {"allowed": False, "code": "case_on_hold", "next_allowed_at": "2026-12-15T10:00:00+08:00"},
        ),
        (
            facts(NY),
            CALL,
            iso_utc("2026-03-08T02:00Z"),
            {"allowed": False, "code": "outside_contact_hours", "next_allowed_at": "2026-03-08T08:00:00-04:00"},
        ),
    ],
)
def test_decision_as_dict_shape(f, channel, at, expected):
    policy = US if f.time_zone == NY else CHINA
    out = check_contact(facts=f, channel=channel, at=at, policy=policy).as_dict()
    assert out == expected
    assert list(out) == ["allowed", "code", "next_allowed_at"]
    assert json.loads(json.dumps(out)) == expected  # JSON-ready as is


def test_decision_yes_is_allowed_without_code_or_time():
    assert Decision.yes() == Decision(True, "", None)
    assert Decision.yes().as_dict() == {"allowed": True, "code": None, "next_allowed_at": None}


@pytest.mark.parametrize("name, preset", [("china", CHINA), ("us", US)])
def test_policy_named_returns_the_preset(name, preset):
    p = policy_named(name)
    assert p is preset
    assert p.name == name
    assert c.PRESETS[name] is preset


@pytest.mark.parametrize("bad", ["eu", "China", "US", "", "china "])
def test_policy_named_rejects_unknown_names(bad):
    with pytest.raises(ValueError) as info:
        policy_named(bad)
    message = str(info.value)
    assert repr(bad) in message
    assert "china" in message and "us" in message  # names the choices


def test_presets_encode_the_documented_figures():
    assert (CHINA.window_start.isoformat(), CHINA.window_end.isoformat()) == ("08:00:00", "22:00:00")
    assert (CHINA.max_connected_calls_per_day, CHINA.max_dials_per_number_per_day) == (3, 6)
    assert CHINA.visit_min_agents == 2
    assert (US.window_start.isoformat(), US.window_end.isoformat()) == ("08:00:00", "21:00:00")
    assert (US.max_call_attempts_per_7_days, US.quiet_days_after_conversation) == (7, 7)
    assert US.max_connected_calls_per_day is None and US.max_dials_per_number_per_day is None


def test_hold_ending_at_night_points_to_the_next_window_opening():
    end = iso_utc("2026-12-15T15:00Z")  # 23:00 in Shanghai
    d = check_contact(facts=facts(SH, holds=["dispute"], holds_end_at=end), channel=CALL, at=NOON_SH)
    assert_refused(d, "case_on_hold", "2026-12-16T08:00:00+08:00")
