"""The lender's calendar: due dates and days past due are counted in it (Asia/Shanghai by default)."""

from django.conf import settings
from django.utils import timezone


def lender_today():
    return timezone.localdate(timezone=settings.LENDER_TIME_ZONE)


def lender_date_of(moment):
    return timezone.localdate(moment, timezone=settings.LENDER_TIME_ZONE)
