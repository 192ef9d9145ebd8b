"""A queue's open cases (optionally filtered as on the assignment page), in id order, read by
keyset pages through `case_assign_list`; names masked."""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ....calendar import lender_today
from ....errors import DomainError
from ....masking import mask_name
from ....models import Bucket, Case, Queue
from ....permissions import EXPORT_CASES, may_everywhere, visible_cases
from ....selectors.cases import bucket_list
from ....selectors.supervisor import case_assign_list
from ....workflow import OPEN_STATES, State
from .limits import chunk_size, more_than
from .registry import ExportKind, register
from .worklist import case_standing, case_standing_header


@register
class QueueExport(ExportKind):
    name = "queue"
    title = gettext_lazy("Queue")
    pii_fields = ("name",)

    def header(self, params):
        return [
            _("Case"),
            _("Loan"),
            _("Borrower"),
            *case_standing_header(),
            _("Assigned to"),
            _("Queue"),
        ]

    def check(self, actor, params):
        if not may_everywhere(actor, EXPORT_CASES):
            raise DomainError("permission_denied")
        if not Queue.objects.filter(pk=params.get("queue_id")).exists():
            raise DomainError("not_found")

    def is_large(self, actor, params, limit):
        qs = Case.objects.filter(
            queue_id=params["queue_id"], state__in=[params["state"]] if params.get("state") else OPEN_STATES
        )
        return more_than(visible_cases(actor, qs), limit)

    def filename(self, params, fmt, stamp):
        return f"queue-{params['queue_id']}-{stamp}.{fmt}"

    def rows(self, actor, params):
        today = lender_today()
        buckets = bucket_list()
        stages = {value: str(label) for value, label in State.choices}
        bucket = Bucket.objects.filter(name=params["bucket"]).first() if params.get("bucket") else None
        after, size = None, chunk_size()
        while True:
            page, after = case_assign_list(
                actor,
                queue_id=params["queue_id"],
                state=params.get("state") or None,
                assigned_to=params.get("assigned_to") or None,
                bucket=bucket,
                loan=params.get("loan") or None,
                after=after,
                limit=size,
                as_of=today,
            )
            for case in page:
                dpd = case.dpd(today)
                yield [
                    case.pk,
                    case.loan.external_id,
                    mask_name(case.borrower.name),
                    *case_standing(case, dpd, stages, buckets),
                    case.assigned_to.username if case.assigned_to_id else "",
                    case.queue.name if case.queue_id else "",
                ]
            if after is None:
                return
