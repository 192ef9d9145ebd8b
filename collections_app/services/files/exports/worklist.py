"""The worklist as filtered on screen: the same selector (`case_worklist_page`), the same filters
and order, read page by page through its keyset cursor; names masked as the page shows them."""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ....calendar import lender_today
from ....masking import mask_name
from ....selectors.cases import bucket_for, bucket_list
from ....selectors.worklist import WorklistFilters, case_worklist, case_worklist_page
from ....workflow import State
from .limits import chunk_size, more_than
from .registry import ExportKind, register


def worklist_filters(params):
    return WorklistFilters(
        stage=params.get("stage", ""),
        bucket=params.get("bucket", ""),
        promise_due=bool(params.get("promise_due")),
        never_contacted=bool(params.get("never_contacted")),
        on_plan=bool(params.get("on_plan")),
        plan_due_today=bool(params.get("plan_due_today")),
        search=params.get("q", ""),
        sort=params.get("sort", ""),
    )


def case_standing_header():
    """The columns of where a case stands, shared by the case lists (worklist, queue)."""
    return [_("Stage"), _("DPD"), _("Bucket"), _("Amount overdue"), _("Currency"), _("On hold")]


def case_standing(case, dpd, stages, buckets):
    """The cells under `case_standing_header` (`stages`: state -> label; `buckets`: bucket_list())."""
    return [
        stages.get(case.state, case.state),
        dpd,
        bucket_for(dpd, buckets),
        case.amount_overdue,
        case.loan.currency,
        case.borrower_on_hold,
    ]


@register
class WorklistExport(ExportKind):
    name = "worklist"
    title = gettext_lazy("Worklist")
    pii_fields = ("name",)

    def header(self, params):
        return [
            _("Case"),
            _("Borrower"),
            _("Loan"),
            *case_standing_header(),
            _("Promise due today"),
            _("Last contact"),
            _("Next action"),
        ]

    def is_large(self, actor, params, limit):
        # The unfiltered worklist bounds the filtered one: cheap, and never wrong on the small side.
        return more_than(case_worklist(actor), limit)

    def rows(self, actor, params):
        filters = worklist_filters(params)
        today = lender_today()
        buckets = bucket_list()
        stages = {value: str(label) for value, label in State.choices}
        after, size = None, chunk_size()
        while True:
            page, after = case_worklist_page(actor, filters, after=after, limit=size, as_of=today)
            for case in page:
                dpd = case.dpd(today)
                yield [
                    case.pk,
                    mask_name(case.borrower.name),
                    case.loan.external_id,
                    *case_standing(case, dpd, stages, buckets),
                    case.promise_due_today,
                    case.last_contact_at,
                    case.next_action_at,
                ]
            if after is None:
                return
