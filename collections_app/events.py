"""The kinds of case event: for each, what people read and what subscribers are told.

One entry per kind a service (or the sweep's SQL) writes on a case's timeline (CaseEvent.kind):
- `label`: the translated title the timeline shows;
- `sentence(event)`: the one-line detail under it (a `title(event)` replaces the label where the title
  depends on the event, as a transition's does);
- `webhook`: the webhook it becomes (`Webhook`: its type, the `data` it adds to the common fields, and
  the same `data` as SQL for the sweep's set-based statements), or NO_WEBHOOK, said explicitly.

The timeline (timeline.py), the outbox (services/webhooks/, in Python and in SQL) and the sweep's
statements (services/sweep/) read this table; services/events.py refuses a kind it does not hold.
Adding a kind: add its entry here (and its webhook, if subscribers want it), then write it.
"""

from dataclasses import dataclass
from datetime import timezone as dt_timezone
from typing import Callable

from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _

from .errors import REASONS
from .labels import label as code_label
from .models import ContactAttempt
from .models.webhooks import (
    EVENT_ASSIGNED,
    EVENT_PAYMENT_RECORDED,
    EVENT_PROMISE_BROKEN,
    EVENT_STATE_CHANGED,
)
from .workflow import TRANSITION_LABELS, State


def utc_text(moment):
    """A webhook body's time: UTC, ISO 8601 with microseconds and a `Z`."""
    return moment.astimezone(dt_timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# The same text in SQL (PostgreSQL) for a timestamptz expression `{col}`.
SQL_UTC = "to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"


@dataclass(frozen=True)
class Webhook:
    """A webhook type: `data(event)` is what its body's `data` carries besides `event`, `case`,
    `loan`, `actor` and `at`; `sql` builds the same as a jsonb object over an inserted event row
    `ev` (id, case_id, kind, actor, from_state, to_state, reason, payload, at). Change both together."""

    type: str
    data: Callable
    sql: str


NO_WEBHOOK = None  # an entry says it explicitly: subscribers are not told of this kind


@dataclass(frozen=True)
class EventKind:
    code: str
    label: object  # a lazy translation
    sentence: Callable  # (event) -> str
    webhook: Webhook | None  # a Webhook or NO_WEBHOOK
    title: Callable | None = None  # (event) -> str, where the label alone does not say it


# --- webhooks ---------------------------------------------------------------------------------


def _copying(webhook_type, *fields, with_reason=True):
    """A Webhook whose `data` copies payload values as they are: each field is a key of both the
    payload and the body, or a (body key, payload key) pair; the event's `reason` comes last unless
    `with_reason` is False. Its SQL is built from the same fields, so the two forms cannot drift."""
    keys = [(f, f) if isinstance(f, str) else f for f in fields]

    def data(event):
        p = event.payload or {}
        body = {name: p.get(key) for name, key in keys}
        if with_reason:
            body["reason"] = event.reason
        return body

    pairs = [f"'{name}', ev.payload->'{key}'" for name, key in keys]
    if with_reason:
        pairs.append("'reason', ev.reason")
    return Webhook(webhook_type, data, f"jsonb_build_object({', '.join(pairs)})")


def _state_changed(event):
    p = event.payload or {}
    return {
        "from_state": event.from_state or None,
        "to_state": event.to_state,
        "transition": p.get("transition") or ("open" if event.kind == "opened" else None),
        "reason": event.reason,
    }


def _payment_recorded(event):
    p = event.payload or {}
    paid_at = parse_datetime(p["paid_at"]) if p.get("paid_at") else None
    return {
        "payment": p.get("external_id"),
        "amount": p.get("amount"),
        "channel": p.get("channel"),
        "paid_at": utc_text(paid_at) if paid_at else None,
        "unapplied": p.get("unapplied"),
    }


STATE_CHANGED = Webhook(
    EVENT_STATE_CHANGED,
    _state_changed,
    """jsonb_build_object(
    'from_state', NULLIF(ev.from_state, ''), 'to_state', ev.to_state,
    'transition', COALESCE(NULLIF(ev.payload->>'transition', ''), CASE WHEN ev.kind = 'opened' THEN 'open' END),
    'reason', ev.reason)""",
)
ASSIGNED = _copying(EVENT_ASSIGNED, "from_user", "to_user", "from_queue", "to_queue")
PAYMENT_RECORDED = Webhook(
    EVENT_PAYMENT_RECORDED,
    _payment_recorded,
    f"""jsonb_build_object(
    'payment', ev.payload->'external_id', 'amount', ev.payload->'amount', 'channel', ev.payload->'channel',
    'paid_at', {SQL_UTC.format(col="(ev.payload->>'paid_at')::timestamptz")},
    'unapplied', ev.payload->'unapplied')""",
)
PROMISE_BROKEN = _copying(EVENT_PROMISE_BROKEN, ("promise", "promise_id"), "amount", with_reason=False)
_PLAN_FIELDS = (
    ("plan", "plan_id"),
    "kind",
    "status",
    "total",
    "discount",
    "instalments",
    "first_due_date",
    "last_due_date",
)


def _plan_webhook(status):
    return _copying(f"plan.{status}", *_PLAN_FIELDS)


# --- timeline sentences -----------------------------------------------------------------------

_OUTCOMES = dict(ContactAttempt.Outcome.choices)
_CHANNELS = dict(ContactAttempt.Channel.choices)
_STATES = dict(State.choices)


def _state(value):
    return str(_STATES.get(value, value or "—"))


def _with_reason(event):
    return f" — {event.reason}" if event.reason else ""


def _reason(event):
    return event.reason


def _transition_title(event):
    name = (event.payload or {}).get("transition", "")
    return f"{TRANSITION_LABELS.get(name, name)}: {_state(event.from_state)} → {_state(event.to_state)}"


def _transition(event):
    p = event.payload or {}
    if p.get("transition", "") == "close":  # the reason of a close is a code (settled, ...), the note free text
        return code_label("close_reason", event.reason) + (f" — {p['note']}" if p.get("note") else "")
    return event.reason


def _opened(event):
    p = event.payload or {}
    return f"{_state(event.to_state)} · DPD {p.get('dpd', '')} · {p.get('amount_overdue', '')}"


def _contact(event):
    p = event.payload or {}
    detail = (
        f"{_CHANNELS.get(p.get('channel'), p.get('channel'))} · {_OUTCOMES.get(p.get('outcome'), p.get('outcome'))}"
    )
    if p.get("breach"):
        detail += f" · ⚠ {REASONS.get(p['breach'], (0, p['breach']))[1]}"
    return detail + _with_reason(event)


def _promise(event):
    p = event.payload or {}
    return " · ".join(x for x in (p.get("amount", ""), p.get("due_date", "")) if x)


def _payment(event):
    p = event.payload or {}
    parts = (p.get("amount", ""), code_label("channel", p.get("channel")), p.get("external_id", ""))
    return " · ".join(x for x in parts if x) + _with_reason(event)


def _assignment(event):
    p = event.payload or {}
    detail = f"{p.get('from_user') or '—'} → {p.get('to_user') or '—'}"
    if p.get("from_queue") != p.get("to_queue"):
        detail += (
            f" · {code_label('queue', p.get('from_queue')) or '—'} → {code_label('queue', p.get('to_queue')) or '—'}"
        )
    return detail


def _hold(event):
    return code_label("hold", (event.payload or {}).get("code", "")) + _with_reason(event)


def _amounts(event):
    p = event.payload or {}
    return f"{p.get('amount_overdue_before', '')} → {p.get('amount_overdue', '')}"


def _visit_planned(event):
    return ", ".join((event.payload or {}).get("agents", []))


def _plan(event):
    p = event.payload or {}
    parts = [code_label("plan_kind", p.get("kind")), p.get("total", "")]
    if p.get("discount") not in (None, "", "0.00"):
        parts.append(_("forgiven %s") % p["discount"])
    if p.get("instalments"):
        parts.append(
            _("%(n)s instalments, %(first)s – %(last)s")
            % {"n": p["instalments"], "first": p.get("first_due_date"), "last": p.get("last_due_date")}
        )
    return " · ".join(str(x) for x in parts if x) + _with_reason(event)


def _vulnerability(event):
    return code_label("vulnerability", (event.payload or {}).get("code", "")) + _with_reason(event)


def _message(event):
    p = event.payload or {}
    reason = p.get("reason")
    reason = str(REASONS[reason][1]) if reason in REASONS else reason
    parts = (code_label("message_channel", p.get("channel")), code_label("template", p.get("template")), reason)
    return " · ".join(str(x) for x in parts if x)


def _fields(event):
    return ", ".join(code_label("field", f) for f in (event.payload or {}).get("fields", []))


def _fields_and_reason(event):
    return _fields(event) + _with_reason(event)


def _strategy(event):
    p = event.payload or {}
    names = f"{p.get('from_strategy') or '—'} → {p.get('strategy') or '—'}"
    group = _("challenger group") if p.get("group") == "challenger" else _("champion group")
    return _("%(names)s · %(group)s · band %(band)s") % {"names": names, "group": group, "band": p.get("band", "")}


# --- the registry -----------------------------------------------------------------------------

KINDS = {
    k.code: k
    for k in (
        EventKind("opened", _("Case opened"), _opened, STATE_CHANGED),
        EventKind("transition", _("Stage changed"), _transition, STATE_CHANGED, title=_transition_title),
        EventKind("amounts_changed", _("Amount overdue changed"), _amounts, NO_WEBHOOK),
        EventKind("assigned", _("Assigned"), _assignment, ASSIGNED),
        EventKind("contact_logged", _("Contact"), _contact, NO_WEBHOOK),
        EventKind("promise_recorded", _("Promise to pay"), _promise, NO_WEBHOOK),
        EventKind("promise_kept", _("Promise kept"), _promise, NO_WEBHOOK),
        EventKind("promise_broken", _("Promise broken"), _promise, PROMISE_BROKEN),
        EventKind("payment_recorded", _("Payment"), _payment, PAYMENT_RECORDED),
        EventKind("payment_reversed", _("Payment reversed"), _payment, NO_WEBHOOK),
        EventKind("hold_placed", _("Hold placed"), _hold, NO_WEBHOOK),
        EventKind("hold_lifted", _("Hold lifted"), _hold, NO_WEBHOOK),
        EventKind("legal_referral_requested", _("Legal referral requested"), _reason, NO_WEBHOOK),
        EventKind("legal_referral_approved", _("Legal referral approved"), _reason, NO_WEBHOOK),
        EventKind("legal_referral_rejected", _("Legal referral rejected"), _reason, NO_WEBHOOK),
        EventKind("visit_scheduled", _("Visit planned"), _visit_planned, NO_WEBHOOK),
        EventKind("visit_recorded", _("Visit recorded"), _reason, NO_WEBHOOK),
        EventKind("note_added", _("Note"), _reason, NO_WEBHOOK),
        EventKind("pii_revealed", _("Personal data revealed"), _fields_and_reason, NO_WEBHOOK),
        EventKind("borrower_updated", _("Borrower details updated"), _fields, NO_WEBHOOK),
        EventKind("loan_updated", _("Loan updated"), _fields, NO_WEBHOOK),
        EventKind("message_requested", _("Message requested"), _message, NO_WEBHOOK),
        EventKind("message_sent", _("Message sent"), _message, NO_WEBHOOK),
        EventKind("message_failed", _("Message failed"), _message, NO_WEBHOOK),
        EventKind("message_suppressed", _("Message not sent"), _message, NO_WEBHOOK),
        EventKind("promise_withdrawn", _("Promise withdrawn"), _promise, NO_WEBHOOK),
        EventKind("plan_proposed", _("Plan proposed"), _plan, _plan_webhook("proposed")),
        EventKind("plan_activated", _("Plan active"), _plan, _plan_webhook("activated")),
        EventKind("plan_declined", _("Plan declined"), _plan, _plan_webhook("declined")),
        EventKind("plan_expired", _("Plan expired"), _plan, _plan_webhook("expired")),
        EventKind("plan_broken", _("Plan broken"), _plan, _plan_webhook("broken")),
        EventKind("plan_kept", _("Plan kept"), _plan, _plan_webhook("kept")),
        EventKind("plan_cancelled", _("Plan cancelled"), _plan, _plan_webhook("cancelled")),
        EventKind("vulnerability_set", _("Vulnerability noted"), _vulnerability, NO_WEBHOOK),
        EventKind("vulnerability_cleared", _("Vulnerability cleared"), _vulnerability, NO_WEBHOOK),
        EventKind("strategy_chosen", _("Strategy chosen"), _strategy, NO_WEBHOOK),
    )
}


def event_kind(code):
    """The registry entry of a kind; KeyError for a kind nobody registered."""
    return KINDS[code]


def webhook_of(code):
    """The Webhook a kind becomes, or NO_WEBHOOK (also for an unknown kind: nothing to tell)."""
    kind = KINDS.get(code)
    return kind.webhook if kind is not None else NO_WEBHOOK


def webhook_kinds():
    """{kind: Webhook} of the kinds subscribers are told of."""
    return {code: k.webhook for code, k in KINDS.items() if k.webhook is not NO_WEBHOOK}


def webhook_types():
    """{webhook type: Webhook}, each type once."""
    return {w.type: w for w in webhook_kinds().values()}


class SqlKinds:
    """`{kind[opened]}` in a SQL template: the kind as a quoted literal, refused (KeyError) unless
    registered, so the sweep's statements write only kinds the timeline and webhooks know."""

    def __getitem__(self, code):
        return f"'{event_kind(code).code}'"
