"""Celery tasks of exports (issue 6). Being built."""
