"""Celery tasks of file imports (issue 6). Being built."""
