"""What the contact rules read: a borrower's facts (zone, consents, holds), the contact counters,
and the contact policy of each product."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db.models import Count, Max, Q

from .. import compliance
from ..models import ContactAttempt, Hold


def borrower_contact_facts(borrower, at=None):
    """What compliance.check_contact needs to know about a borrower (one query for holds)."""
    holds = list(Hold.objects.active(at).filter(borrower=borrower).values_list("code", "ends_at"))
    ends = [end for _, end in holds]
    return compliance.BorrowerFacts(
        time_zone=borrower.time_zone,
        consent_after_hours=borrower.consent_after_hours,
        consent_sms=borrower.consent_sms,
        consent_email=borrower.consent_email,
        active_hold_codes=frozenset(code for code, _ in holds),
        holds_end_at=None if (not ends or None in ends) else max(ends),
    )


def contact_counters(borrower, *, at, phone="", loan_id=None):
    """What the contact rules count, as of `at` (only what happened before it, so a call logged late
    is judged by the calls before it). Two queries.

    Per borrower and local day: connected calls, dials to `phone`. Per debt (`loan_id`): call
    attempts in the last 7 days and the last telephone conversation. Reachability: a borrower with
    no conversation in 30 days despite at least six calls counts as unreachable."""
    zone = ZoneInfo(borrower.time_zone)
    start = datetime.combine(at.astimezone(zone).date(), time(0), tzinfo=zone)
    month_ago, week_ago = at - timedelta(days=30), at - timedelta(days=7)
    calls = ContactAttempt.objects.filter(
        borrower=borrower,
        channel=ContactAttempt.Channel.CALL,
        occurred_at__gte=min(start, month_ago),
        occurred_at__lt=at,
    )
    outbound_today = Q(direction=ContactAttempt.Direction.OUTBOUND, occurred_at__gte=start)
    this_debt = Q(case__loan_id=loan_id) if loan_id else Q(pk__in=[])
    conversation = Q(outcome__in=ContactAttempt.CONVERSATION)
    counts = calls.aggregate(
        connected=Count("pk", filter=outbound_today & Q(outcome__in=ContactAttempt.CONNECTED)),
        dials=Count("pk", filter=outbound_today & Q(phone=phone)) if phone else Count("pk", filter=Q(pk__in=[])),
        last_conversation=Max(
            "occurred_at", filter=this_debt & conversation & Q(occurred_at__gte=week_ago - timedelta(days=1))
        ),
        conversations_30=Count("pk", filter=conversation & Q(occurred_at__gte=month_ago)),
        attempts_30=Count("pk", filter=Q(direction=ContactAttempt.Direction.OUTBOUND, occurred_at__gte=month_ago)),
    )
    attempts_7 = []
    if loan_id:
        attempts_7 = list(
            calls.filter(this_debt, direction=ContactAttempt.Direction.OUTBOUND, occurred_at__gte=week_ago).values_list(
                "occurred_at", flat=True
            )
        )
    return compliance.Counters(
        connected_calls_today=counts["connected"],
        dials_to_number_today=counts["dials"],
        call_attempts_7_days=attempts_7,
        last_conversation_at=counts["last_conversation"],
        borrower_unreachable=counts["conversations_30"] == 0 and counts["attempts_30"] >= 6,
    )


def contact_policies_for(products):
    """{product: its contact policy} (its strategy's, or the default strategy's, or the setting's), in
    one query: for pages that show several loans' contact windows."""
    from django.conf import settings

    from ..models import Strategy

    strategies = {s.product: s for s in Strategy.objects.filter(product__in=[*set(products), ""])}
    policies = {}
    for product in set(products):
        strategy = strategies.get(product) or strategies.get("")
        policies[product] = compliance.policy_named(
            strategy.contact_policy if strategy else settings.COLLECTIONS_CONTACT_POLICY
        )
    return policies
