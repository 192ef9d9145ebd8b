"""The personal-data audit log for a date range (auditors and admins): oldest first, read by keyset
pages on (at, id); borrower names masked."""

from datetime import datetime, time, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ....errors import DomainError
from ....masking import mask_name
from ....models import AuditLog
from ....permissions import AUDIT_LOG_READ, may
from ....selectors.cases import newest_first_page
from .limits import chunk_size, more_than
from .registry import ExportKind, register


def audit_log_queryset(params):
    """AuditLog rows matching the filters: `date_from`, `date_to` (ISO dates, inclusive, in the
    lender's calendar), `action`, `actor` (a label or its part)."""
    zone = settings.LENDER_TIME_ZONE
    qs = AuditLog.objects.all()
    if params.get("date_from"):
        start = datetime.combine(datetime.fromisoformat(params["date_from"]).date(), time(0), tzinfo=zone)
        qs = qs.filter(at__gte=start)
    if params.get("date_to"):
        end = datetime.combine(
            datetime.fromisoformat(params["date_to"]).date() + timedelta(days=1), time(0), tzinfo=zone
        )
        qs = qs.filter(at__lt=end)
    if params.get("action"):
        qs = qs.filter(action=params["action"])
    if params.get("actor"):
        qs = qs.filter(actor__icontains=params["actor"])
    return qs


def audit_log_page(params, *, before=None, limit=50):
    """One page of the audit log page, newest first (by id, which follows time; keyset on id). Returns (entries, next_before)."""
    return newest_first_page(audit_log_queryset(params).select_related("borrower"), before=before, limit=limit)


@register
class AuditLogExport(ExportKind):
    name = "audit-log"
    title = gettext_lazy("Audit log")
    pii_fields = ("name",)

    def check(self, actor, params):
        # The service guards it too (a queued job checks again when it runs): auditors and admins only.
        if not may(actor, AUDIT_LOG_READ):
            raise DomainError("permission_denied")

    def header(self, params):
        return [
            _("At"),
            _("Actor"),
            _("Action"),
            _("Borrower"),
            _("Borrower name"),
            _("Case"),
            _("Fields"),
            _("Reason"),
        ]

    def is_large(self, actor, params, limit):
        return more_than(audit_log_queryset(params), limit)

    def rows(self, actor, params):
        base = audit_log_queryset(params).select_related("borrower").order_by("at", "pk")
        size, last = chunk_size(), None
        actions = dict(AuditLog.Action.choices)
        while True:
            # `at >= last` repeated outside the OR lets the index on `at` bound the scan.
            qs = (
                base
                if last is None
                else base.filter(Q(at__gt=last[0]) | Q(at=last[0], pk__gt=last[1]), at__gte=last[0])
            )
            page = list(qs[:size])
            for entry in page:
                borrower = entry.borrower
                yield [
                    entry.at,
                    entry.actor,
                    str(actions.get(entry.action, entry.action)),
                    borrower.external_id if borrower else "",
                    mask_name(borrower.name) if borrower else "",
                    entry.case_id,
                    ", ".join(entry.fields or []),
                    entry.reason,
                ]
            if len(page) < size:
                return
            last = (page[-1].at, page[-1].pk)
