"""The dashboard's cache warmer (beat, every few minutes). Name as before the package:
`collections_app.tasks.dashboard_warm_task`."""

from celery import shared_task


@shared_task(name="collections_app.tasks.dashboard_warm_task", acks_late=True, soft_time_limit=600, time_limit=630)
def dashboard_warm_task():
    """Recompute the current month's dashboard figures into the cache (beat, every few minutes)."""
    from ..selectors.dashboard.board import Dashboard

    return str(Dashboard.warm().computed_at)
