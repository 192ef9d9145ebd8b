"""What every supervisor page shares: its template folder and currency, and how a case row is marked."""

from django.conf import settings
from django.shortcuts import render

from ...selectors import cases as case_reads
from ...masking import mask_name


def render_page(request, template, context):
    context.setdefault("currency", settings.COLLECTIONS_CURRENCY)
    return render(request, f"collections_app/supervisor/{template}", context)


def mark_case(case, today, buckets):
    """What a case row shows beyond its fields: masked borrower name, DPD and bucket (no queries)."""
    case.masked_name = mask_name(case.borrower.name)
    case.dpd_today = case.dpd(today)
    case.bucket_name = case_reads.bucket_for(case.dpd_today, buckets) if buckets is not None else None
    return case
