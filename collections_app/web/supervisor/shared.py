"""What every supervisor page shares: its template folder and currency, how a case row is marked,
and how a form on one row (decide this referral, lift this hold, keep this marker) is taken."""

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render

from ...errors import DomainError
from ...selectors import cases as case_reads
from ...masking import mask_name
from ..common import form_errors_from, refusal_text


def render_page(request, template, context):
    context.setdefault("currency", settings.COLLECTIONS_CURRENCY)
    return render(request, f"collections_app/supervisor/{template}", context)


def mark_case(case, today, buckets):
    """What a case row shows beyond its fields: masked borrower name, DPD and bucket (no queries)."""
    case.masked_name = mask_name(case.borrower.name)
    case.dpd_today = case.dpd(today)
    case.bucket_name = case_reads.bucket_for(case.dpd_today, buckets) if buckets is not None else None
    return case


def row_action(request, form, call, *, back_to, again):
    """Validate the `form` of one row and run `call(cleaned_data)`, which calls the service and returns
    what the person is told back on the page `back_to` (a redirect: a reload posts nothing twice).
    Otherwise `again(refusal=...)`: the page again with this row's form in place, its errors on it,
    and the refusal's text (None when the form itself was not valid)."""
    refusal = None
    if form.is_valid():
        try:
            text = call(form.cleaned_data)
        except DomainError as error:
            form_errors_from(error, form)
            refusal = refusal_text(error)
        else:
            messages.success(request, text)
            return redirect(back_to)
    return again(refusal=refusal)
