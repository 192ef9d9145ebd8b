"""Celery tasks by capability: ids or dates in, one service call; retries, `acks_late`, time limits
and routing live here, business rules in the services.

Every task keeps the NAME it had before the package existed (`collections_app.tasks.sweep_task`,
`collections_app.tasks_imports.import_file_task`, ...), given explicitly: beat rows
(django-celery-beat's PeriodicTask.task), messages already queued and `services/enqueue.py` send by
name. The worker's autodiscovery imports this package; importing the modules here registers them."""

from . import dashboard, files, reminders, risk, sweep, webhooks  # noqa: F401
