"""Test settings: the same system, made fast (cheap hashing, eager Celery unless a test says so)."""

from .settings import *  # noqa: F401,F403
from .settings import STORAGES  # extended below

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELERY_TASK_ALWAYS_EAGER = True
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
COLLECTIONS_SMS_LEDGER = ""  # the console backend keeps no ledger file in tests unless a test sets one
# Tests run with DEBUG off (pytest-django) whatever DJANGO_DEBUG says, and never run collectstatic:
# plain storage, so `{% static %}` needs no manifest.
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
