"""Tasks of the webhook outbox: the dispatcher (beat, and a commit that queued deliveries) starts one
lane task per subscription. Names as before the package: `collections_app.tasks.<name>`."""

import time

from celery import shared_task

from ..services import webhooks


@shared_task(name="collections_app.tasks.webhooks_dispatch_task", acks_late=True, soft_time_limit=60, time_limit=70)
def webhooks_dispatch_task():
    """Beat (every minute) and a commit that queued deliveries run it: puts back the claims of
    workers that died, then starts one lane task per subscription with deliveries due, so a receiver
    that hangs delays only its own lane."""
    requeued = webhooks.webhooks_requeue_stale()
    lanes = webhooks.webhooks_lanes_due()
    for subscription_id in lanes:
        webhook_lane_task.delay(subscription_id)
    return {"requeued": requeued, "lanes": lanes}


@shared_task(name="collections_app.tasks.webhook_lane_task", acks_late=True, soft_time_limit=150, time_limit=160)
def webhook_lane_task(subscription_id, max_batches=200, budget_seconds=45):
    """Send one subscription's due deliveries a batch at a time, in order, until nothing is due, the
    budget is spent, or its receiver stops answering (the rest wait for a later round). One lane
    task per subscription at a time: another finds the lane held and leaves."""
    hold = budget_seconds + 3 * webhooks.webhook_timeout() + 30
    if not webhooks.webhook_lane_claim(subscription_id=subscription_id, seconds=hold):
        return {"busy": True}
    started = time.monotonic()
    totals = {}
    try:
        for _ in range(max_batches):
            done = webhooks.webhooks_dispatch(subscription_id=subscription_id)
            for key, value in vars(done).items():
                totals[key] = totals.get(key, 0) + value
            if done.claimed == 0 or done.stopped or time.monotonic() - started > budget_seconds:
                break
    finally:
        webhooks.webhook_lane_release(subscription_id=subscription_id)
    return totals
