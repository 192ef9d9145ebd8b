"""The outbox: the deliveries written in the change's own transaction. `outbox_for_events` (called by
services/events.py for saved events) and `pg_outbox_cte` (the sweep's set-based statements on
PostgreSQL) build the same body; `nudge_on_commit` asks a worker to send after the commit."""

import logging

from django.db import connection, transaction
from django.utils import timezone

from ...events import SQL_UTC, utc_text, webhook_kinds, webhook_types
from ...models import Case, Loan, WebhookDelivery, WebhookSubscription
from .knobs import knob

log = logging.getLogger(__name__)


# --- rendering ------------------------------------------------------------------------------


def event_id(case_event_id):
    return f"evt_{case_event_id}"


def event_data(event, webhook, loan_external_id):
    """The `data` of a timeline event (`event` is a saved CaseEvent) for its kind's `webhook`
    (events.py, whose `sql` mirrors it in `pg_outbox_cte`)."""
    return {
        "event": event.pk,
        "case": event.case_id,
        "loan": loan_external_id,
        "actor": event.actor,
        "at": utc_text(event.at),
        **webhook.data(event),
    }


def envelope(key, event_type, at, data):
    return {"id": key, "type": event_type, "created_at": utc_text(at), "data": data}


# --- the outbox -----------------------------------------------------------------------------


def _subscribers():
    """{event type: [subscription id, ...]} of the active subscriptions (a small table)."""
    wanted = {}
    for pk, types in WebhookSubscription.objects.filter(is_active=True).values_list("pk", "event_types"):
        for event_type in types or ():
            wanted.setdefault(event_type, []).append(pk)
    return wanted


def outbox_for_events(events):
    """Queue a delivery per subscription for each saved case event that maps to a webhook type.
    Called by services/events.py inside the transaction that wrote the events. Returns how many."""
    by_kind = webhook_kinds()
    typed = [(e, by_kind[e.kind]) for e in events if e.kind in by_kind and e.pk is not None]
    if not typed:
        return 0
    wanted = _subscribers()
    typed = [(e, w) for e, w in typed if wanted.get(w.type)]
    if not typed:
        return 0
    loans = dict(Case.objects.filter(pk__in={e.case_id for e, _t in typed}).values_list("pk", "loan__external_id"))
    now = timezone.now()
    rows = []
    for event, webhook in typed:
        key = event_id(event.pk)
        payload = envelope(key, webhook.type, event.at, event_data(event, webhook, loans.get(event.case_id)))
        rows.extend(
            WebhookDelivery(
                subscription_id=sid,
                event_type=webhook.type,
                event_key=key,
                payload=payload,
                next_attempt_at=now,
                created_at=now,
            )
            for sid in wanted[webhook.type]
        )
    WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
    nudge_on_commit()
    return len(rows)


def _kick_dispatcher():
    """After commit: ask a worker to send now rather than at beat's next minute. Never fails the
    caller: with the broker down the rows wait in the outbox for beat."""
    from ..enqueue import send_now

    try:
        send_now("collections_app.tasks.webhooks_dispatch_task")  # logs and returns False if the broker is down
    except Exception:  # noqa: BLE001 - a nudge is best effort by design
        log.warning("webhook dispatcher not nudged; beat will pick the deliveries up", exc_info=True)


def nudge_on_commit():
    if not knob("COLLECTIONS_WEBHOOK_NUDGE", True):
        return
    pending = getattr(connection, "run_on_commit", None) or []
    if any(len(entry) > 1 and entry[1] is _kick_dispatcher for entry in pending):
        return  # once per transaction
    transaction.on_commit(_kick_dispatcher)


def _sql_kind_types():
    """The registry's kinds -> webhook types, as SQL rows."""
    return ", ".join(f"('{kind}', '{webhook.type}')" for kind, webhook in webhook_kinds().items())


def _sql_type_data():
    """`CASE wt.event_type WHEN <type> THEN <its data> ... END`, from the registry's Webhook.sql."""
    whens = "\n".join(f"    WHEN '{event_type}' THEN {webhook.sql}" for event_type, webhook in webhook_types().items())
    return f"CASE wt.event_type\n{whens}\n    ELSE jsonb_build_object() END"


def pg_outbox_cte(events="ev", cases=None):
    """A writable CTE (PostgreSQL) that queues deliveries for the events another CTE inserted.

    `events` names a CTE whose `INSERT INTO caseevent ... RETURNING id, case_id, kind, actor,
    from_state, to_state, reason, payload, at`; `cases` a relation with `id` and `loan_id` for
    their cases (default the case table; a statement that inserts the cases passes its own CTE,
    which the table cannot show yet). The body is the one `event_data` and `envelope` build (the
    kinds, types and each type's `data` come from the registry, collections_app/events.py).
    Contains no braces and no bare percent signs, so it can sit in a str.format template; it uses
    the `%(now)s` parameter."""
    cases = cases or Case._meta.db_table
    at = SQL_UTC.format(col="ev.at")
    return f"""webhooks AS (
    INSERT INTO {WebhookDelivery._meta.db_table} (subscription_id, event_type, event_key, payload, status, attempts,
        next_attempt_at, last_error, redeliveries, created_at)
    SELECT s.id, wt.event_type, 'evt_' || ev.id,
           jsonb_build_object('id', 'evt_' || ev.id, 'type', wt.event_type, 'created_at', {at},
               'data', jsonb_build_object('event', ev.id, 'case', ev.case_id, 'loan', wl.external_id,
                                          'actor', ev.actor, 'at', {at})
                       || {_sql_type_data()}),
           'queued', 0, %(now)s, '', 0, %(now)s
    FROM {events} ev
    JOIN (VALUES {_sql_kind_types()}) AS wt(kind, event_type) ON wt.kind = ev.kind
    JOIN {WebhookSubscription._meta.db_table} s ON s.is_active AND s.event_types @> jsonb_build_array(wt.event_type)
    JOIN {cases} wc ON wc.id = ev.case_id
    JOIN {Loan._meta.db_table} wl ON wl.id = wc.loan_id
    ORDER BY ev.id, s.id
    ON CONFLICT (subscription_id, event_key) DO NOTHING
)"""
