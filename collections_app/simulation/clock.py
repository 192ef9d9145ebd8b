"""The simulated day's clock, in one context manager.

Why override the clock: the services take no "now" parameter; they stamp events, contacts,
payments, promises, plans and messages with `django.utils.timezone.now()` (and the lender's today is
derived from it, calendar.lender_today), and compliance judges quiet hours and daily caps against
it. For a simulated day to be "today" for them, and for its rows to carry that day's timestamps (the
risk work rebuilds features as of past dates from them), `timezone.now` itself must answer the
simulated moment. Two places read it:
- `timezone.now()` called at run time (services, calendar, `auto_now` fields): the module attribute
  is replaced;
- model fields declared `default=timezone.now` hold the original function: their default is swapped
  for the same fake for the duration (and Django's cached `_get_default` dropped).
Both are put back on exit, even on error. The simulation also sends its messages, SMS and e-mail,
through a quiet gateway (gateway.py: the dispatcher's `backend_for` answers it for both channels) so
that 90 days of reminders neither print, nor land in the SMS ledger, nor cost a transaction each.

The clock never runs ahead of the real time on the real today: a moment asked for later today is
held at the real now (the rest of today's work is the live system's)."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date, datetime, time, timedelta

from django.apps import apps
from django.conf import settings
from django.test.utils import override_settings
from django.utils import timezone

QUIET_GATEWAYS = {
    "COLLECTIONS_SMS_BACKEND": "collections_app.simulation.gateway.QuietBackend",
    "EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
}


class SimClock:
    def __init__(self, real_now):
        self._real_now = real_now
        self.moment = real_now()

    def real_now(self):
        return self._real_now()

    def real_today(self) -> date:
        return timezone.localdate(self._real_now(), timezone=settings.LENDER_TIME_ZONE)

    def at(self, day: date, hour: int = 0, minute: int = 0, second: int = 0):
        """Move to `day` at this time of the lender's day (held at the real now on the real today)."""
        moment = datetime.combine(day, time(hour, minute, second), tzinfo=settings.LENDER_TIME_ZONE)
        return self.set(moment)

    def set(self, moment):
        real = self._real_now()
        if moment > real and timezone.localdate(moment, timezone=settings.LENDER_TIME_ZONE) <= self.real_today():
            moment = real - timedelta(seconds=1)
        self.moment = moment
        return moment

    def now(self):
        return self.moment


def _fields_defaulting_to(function):
    return [
        f for model in apps.get_models() for f in model._meta.concrete_fields if getattr(f, "default", None) is function
    ]


def _set_default(fields, function):
    for f in fields:
        f.default = function
        f.__dict__.pop("_get_default", None)  # a cached_property holding the old callable


@contextmanager
def simulated_clock(start=None):
    """`with simulated_clock() as clock:` every `timezone.now()` answers `clock.moment` (move it with
    `clock.at(day, hour)` or `clock.set(moment)`); quiet gateways for SMS and e-mail."""
    real = timezone.now
    clock = SimClock(real)
    if start is not None:
        clock.set(start)
    from ..services.reminders import dispatch

    from .gateway import quiet_backend_for

    fake = clock.now
    fields = _fields_defaulting_to(real)
    real_backend_for = dispatch.backend_for
    timezone.now = fake
    _set_default(fields, fake)
    dispatch.backend_for = quiet_backend_for
    try:
        with override_settings(**QUIET_GATEWAYS):
            yield clock
    finally:
        timezone.now = real
        _set_default(fields, real)
        dispatch.backend_for = real_backend_for
