"""Webhooks out: subscriptions, the outbox written with the change, and the signed delivery.

Writing. Every case event goes through services/events.py, which calls `outbox_for_events` in the
same transaction: one WebhookDelivery per active subscription wanting the event's type, with the
whole body rendered now. The sweep's set-based statements on PostgreSQL insert the same rows in the
same statement as their events (`pg_outbox_cte`). Which event kinds become which types, and the
`data` each type carries (in Python and in SQL), is the event-kind registry's (collections_app/events.py):

    transition, opened   -> case.state_changed
    assigned             -> case.assigned
    payment_recorded     -> payment.recorded
    promise_broken       -> promise.broken

Body: {"id": "evt_<CaseEvent id>", "type", "created_at", "data"}; times are UTC, ISO 8601 with
microseconds and a `Z`. `data` always has `event` (the CaseEvent id, as in /api/v1/events/),
`case`, `loan` (external id), `actor` and `at`, plus per type:
    case.state_changed  from_state (null when the case was opened), to_state, transition
                        ("open" when opened), reason
    case.assigned       from_user, to_user, from_queue, to_queue, reason
    payment.recorded    payment (external id), amount, channel, paid_at, unapplied
    promise.broken      promise (id), amount

Sending. Each subscription is a lane of its own: `webhooks_dispatch_task` starts one lane task per
subscription with rows due, which holds the subscription's lane (`lane_until`) and runs
`webhooks_dispatch(subscription_id=...)`: it claims due rows (select_for_update(skip_locked) plus a
conditional update), POSTs them in order with COLLECTIONS_WEBHOOK_TIMEOUT for the whole exchange,
records each answer as it comes, and hands the rest of the lane back when the receiver stops
answering. Bodies carry what the subscription owner's scopes show (`body_for`). Signed per CONTRACT.md:
    X-Collections-Event: <type>
    X-Collections-Signature: t=<unix seconds at send time>,v1=<hex HMAC-SHA256("<t>.<raw body>", secret)>
The raw body is the stored body as compact JSON with sorted keys, the same bytes on every attempt.
Outcome: any 2xx is delivered. 410 Gone fails the delivery and switches the subscription off
(`disabled_reason` says why; queued rows wait until someone switches it on again). Anything else
(other statuses, 3xx included since redirects are not followed, timeouts, refused connections) is
retried with exponential backoff: 1, 2, 4 ... minutes after each attempt (a larger `Retry-After`
is honoured, capped), until COLLECTIONS_WEBHOOK_MAX_ATTEMPTS (8) attempts, then failed. A failed
or delivered row can be sent again by hand (`webhook_redeliver`). Rows of an inactive subscription
are not sent. A row claimed by a worker that died goes back to the queue after
STALE_CLAIM_MINUTES (the receiver may then see it twice: receivers dedupe by the body's `id`).

Modules: outbox.py (rows written in the change's transaction, in Python and in SQL), subscriptions.py
(create, update, delete, redeliver, ownership and the scopes bodies follow), dispatch.py (lanes,
delivery, retries), signing.py (the body bytes and the HMAC header), knobs.py (the settings).
"""

from .dispatch import (
    USER_AGENT,
    DispatchResult,
    webhook_lane_claim,
    webhook_lane_release,
    webhooks_dispatch,
    webhooks_lanes_due,
    webhooks_requeue_stale,
)
from .knobs import STALE_CLAIM_MINUTES, backoff, max_attempts, webhook_timeout
from .outbox import envelope, event_data, event_id, nudge_on_commit, outbox_for_events, pg_outbox_cte
from .signing import body_bytes, sign, signature_header
from .subscriptions import (
    SECRET_PREFIX,
    TYPE_SCOPES,
    body_for,
    may_manage_webhooks,
    new_secret,
    owner_scopes,
    webhook_redeliver,
    webhook_subscription_create,
    webhook_subscription_delete,
    webhook_subscription_update,
    webhook_subscriptions_for,
)

__all__ = [
    "SECRET_PREFIX",
    "STALE_CLAIM_MINUTES",
    "TYPE_SCOPES",
    "USER_AGENT",
    "DispatchResult",
    "backoff",
    "body_bytes",
    "body_for",
    "envelope",
    "event_data",
    "event_id",
    "max_attempts",
    "may_manage_webhooks",
    "new_secret",
    "nudge_on_commit",
    "outbox_for_events",
    "owner_scopes",
    "pg_outbox_cte",
    "sign",
    "signature_header",
    "webhook_lane_claim",
    "webhook_lane_release",
    "webhook_redeliver",
    "webhook_subscription_create",
    "webhook_subscription_delete",
    "webhook_subscription_update",
    "webhook_subscriptions_for",
    "webhook_timeout",
    "webhooks_dispatch",
    "webhooks_lanes_due",
    "webhooks_requeue_stale",
]
