"""Proposing a plan or a settlement: from explicit instalments, or from months + first due date +
down payment. Within the proposer's authority it is active at once; beyond it but within the policy it
waits on /approvals/; outside every authority it is refused (`plan_outside_policy`)."""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from ... import permissions as perms
from ... import values
from ...actors import as_actor
from ...calendar import lender_today
from ...errors import DomainError, invalid
from ...models import HardshipReason, PlanInstalment, PlanKind, PlanStatus, RepaymentPlan
from ...workflow import OPEN_STATES
from .._common import lock_visible_case, parse_day, parse_money, require_choice
from ..events import event_write
from .activate import plan_activate, touch_case
from .payload import plan_payload
from ...permissions import plan_authority_to_propose as authority_to_propose
from .policy import limits_text, place_proposal, policy_for_loan
from .schedule import add_months, monthly_schedule, months_between, outstanding

MAX_INSTALMENTS = 60  # more than any policy's longest plan in months; a bound on the input


@dataclass
class Draft:
    """A proposal checked and priced, before anything is written (the page's preview shows it)."""

    kind: str
    reason: str
    notes: str
    schedule: list  # [(due_date, amount)]
    total: Decimal
    discount: Decimal
    balance: Decimal
    months: int
    needs: str
    active_at_once: bool
    monthly_income: Decimal | None = None
    essential_spending: Decimal | None = None

    @property
    def discount_share(self):
        return self.discount / self.balance if self.balance else Decimal("0")


def plan_preview(*, case_id, actor=None, **proposal):
    """Check and price a proposal without writing it (the form's schedule preview)."""
    actor = as_actor(actor)
    with transaction.atomic():
        case = lock_visible_case(case_id, actor)
        return _draft(case, actor, **proposal)


def plan_propose(*, case_id, actor=None, **proposal):
    """Propose a plan on a case; returns the plan (active or proposed). Refusals: 400 naming the
    field, 403, 404, 409 `plan_exists`, 422 `plan_outside_policy`."""
    actor = as_actor(actor)
    with transaction.atomic():
        case = lock_visible_case(case_id, actor)
        draft = _draft(case, actor, **proposal)
        if RepaymentPlan.objects.filter(case=case, status__in=[PlanStatus.PROPOSED, PlanStatus.ACTIVE]).exists():
            raise DomainError("plan_exists")
        policy = policy_for_loan(case.loan)
        today = lender_today()
        try:
            with transaction.atomic():
                plan = RepaymentPlan.objects.create(
                    case=case,
                    kind=draft.kind,
                    status=PlanStatus.PROPOSED,
                    reason=draft.reason,
                    notes=draft.notes,
                    total=draft.total,
                    discount=draft.discount,
                    balance=draft.balance,
                    monthly_income=draft.monthly_income,
                    essential_spending=draft.essential_spending,
                    needs_authority=draft.needs,
                    **actor.stamp("proposed_by"),
                    expires_on=today + timedelta(days=policy.proposal_expiry_days),
                )
        except IntegrityError:  # another proposal on this case committed first
            raise DomainError("plan_exists") from None
        PlanInstalment.objects.bulk_create(
            PlanInstalment(plan=plan, number=n, due_date=due, amount=amount)
            for n, (due, amount) in enumerate(draft.schedule, start=1)
        )
        # The hardship reason is personal data: it stays on the plan, not in the event or its webhook.
        event_write(case, "plan_proposed", actor, payload=plan_payload(plan, draft.schedule))
        if draft.active_at_once:
            plan_activate(plan, case, actor)
        else:
            touch_case(case)
    return plan


def _draft(
    case,
    actor,
    *,
    kind,
    reason,
    notes="",
    instalments=None,
    months=None,
    first_due_date=None,
    down_payment=None,
    discount=None,
    monthly_income=None,
    essential_spending=None,
):
    if not perms.may(actor, perms.PLAN_PROPOSE, case):
        raise DomainError("permission_denied")
    if case.state not in OPEN_STATES:
        raise invalid("case", _("Plans are agreed on open cases only."))
    kind = require_choice(kind, PlanKind.choices, "kind")
    reason = require_choice(reason, HardshipReason.choices, "reason")
    notes = values.parse("notes", values.text, notes or "", max_length=2000, required=False)
    income = _optional_money(monthly_income, "monthly_income")
    spending = _optional_money(essential_spending, "essential_spending")
    if kind == PlanKind.PLAN and discount not in (None, "", "0", "0.00", 0):
        raise invalid("discount", _("Only a settlement forgives part of the balance; a plan has no discount."))
    policy = policy_for_loan(case.loan)
    today = lender_today()
    balance = outstanding(case.loan_id)
    if balance <= 0:
        raise invalid("case", _("Nothing is outstanding on this loan."))
    if instalments not in (None, []) and months not in (None, ""):
        raise invalid("instalments", _("Give either the instalments or the months, not both."))
    if instalments not in (None, []):
        schedule = _explicit_schedule(instalments, today)
        total = sum((amount for _due, amount in schedule), Decimal("0.00"))
    else:
        schedule, total = _built_schedule(kind, case, balance, discount, months, first_due_date, down_payment, today)
    if kind == PlanKind.SETTLEMENT and len(schedule) > policy.settlement_max_parts:
        field = "instalments" if instalments else "months"
        raise invalid(field, _("A settlement is paid in at most %d parts.") % policy.settlement_max_parts)
    last_due = schedule[-1][0]
    if total > balance:
        raise invalid("instalments", _("The plan asks for more than is owed (%s).") % balance)
    if kind == PlanKind.PLAN:
        due_by_end = outstanding(case.loan_id, due_on_or_before=last_due)
        if total < due_by_end:
            raise invalid(
                "instalments",
                _("A plan must cover everything overdue by its last date: at least %s.") % due_by_end,
            )
        plan_discount = Decimal("0.00")
    else:
        plan_discount = balance - total
        if discount not in (None, ""):
            given = values.parse("discount", values.money, discount, positive=False)
            if given != plan_discount:
                raise invalid(
                    "discount",
                    _("The discount must be the balance (%(balance)s) less the total (%(total)s).")
                    % {"balance": balance, "total": total},
                )
    first_minimum = (total * policy.min_first_payment_share).quantize(Decimal("0.01"))
    if schedule[0][1] < first_minimum:
        raise invalid(
            "instalments" if instalments else "down_payment",
            _("The first payment must be at least %s.") % first_minimum,
        )
    months_long = months_between(today, last_due)
    proposer = authority_to_propose(actor)
    draft = Draft(
        kind=kind,
        reason=reason,
        notes=notes,
        schedule=schedule,
        total=total,
        discount=plan_discount,
        balance=balance,
        months=months_long,
        needs=proposer,
        active_at_once=False,
        monthly_income=income,
        essential_spending=spending,
    )
    placement = place_proposal(policy, proposer, months_long, draft.discount_share)
    if placement is None:
        raise DomainError(
            "plan_outside_policy",
            _("This plan (%(months)d months, discount %(pct)s %%) is outside every authority: %(limits)s.")
            % {
                "months": months_long,
                "pct": (draft.discount_share * 100).quantize(Decimal("0.1")),
                "limits": limits_text(policy),
            },
        )
    draft.needs, draft.active_at_once = placement.needs, placement.active_at_once
    return draft


def _optional_money(value, field):
    if value in (None, ""):
        return None
    return values.parse(field, values.money, value, positive=False)


def _explicit_schedule(instalments, today):
    if not isinstance(instalments, (list, tuple)):
        raise invalid("instalments", _("Give a list of instalments, each with a due date and an amount."))
    if len(instalments) > MAX_INSTALMENTS:
        raise invalid("instalments", _("At most %d instalments.") % MAX_INSTALMENTS)
    schedule = []
    for index, item in enumerate(instalments):
        if not isinstance(item, dict):
            raise invalid(f"instalments[{index}]", _("Each instalment has a due date and an amount."))
        due = parse_day(item.get("due_date"), f"instalments[{index}].due_date")
        amount = parse_money(item.get("amount"), f"instalments[{index}].amount")
        if due < today:
            raise invalid(f"instalments[{index}].due_date", _("A plan instalment cannot fall due in the past."))
        if schedule and due <= schedule[-1][0]:
            raise invalid(
                f"instalments[{index}].due_date", _("Instalments must be in date order, one per day at most.")
            )
        schedule.append((due, amount))
    return schedule


def _built_schedule(kind, case, balance, discount, months, first_due_date, down_payment, today):
    if months in (None, ""):
        raise invalid("months", _("Give the number of months (or the instalments)."))
    if isinstance(months, bool):
        raise invalid("months", _("Enter a whole number of months."))
    try:
        months = int(str(months).strip())
    except ValueError:
        raise invalid("months", _("Enter a whole number of months.")) from None
    if not 1 <= months <= MAX_INSTALMENTS:
        raise invalid("months", _("Between 1 and %d months.") % MAX_INSTALMENTS)
    first_due = parse_day(first_due_date, "first_due_date")
    if first_due < today:
        raise invalid("first_due_date", _("The first payment cannot fall due in the past."))
    down = _optional_money(down_payment, "down_payment") or None
    last_due = add_months(first_due, months - 1)
    if kind == PlanKind.PLAN:
        total = outstanding(case.loan_id, due_on_or_before=last_due)
        if total <= 0:
            raise invalid("months", _("Nothing falls due by the plan's last date."))
    else:
        forgiven = values.parse("discount", values.money, discount, positive=False) if discount else Decimal("0.00")
        total = balance - forgiven
        if total <= 0:
            raise invalid("discount", _("The discount must leave something to pay."))
    if down is not None and (down > total or (months > 1 and down == total)):
        raise invalid("down_payment", _("The down payment must be less than the total (%s).") % total)
    left_after_down = total - (down or Decimal("0.00"))
    parts_after_down = months - 1 if down is not None else months
    if parts_after_down and left_after_down < Decimal("0.01") * parts_after_down:
        field = "down_payment" if down is not None else "months"
        raise invalid(field, _("Every instalment must be at least 0.01: fewer months or a smaller down payment."))
    if down is not None and months == 1 and down != total:
        raise invalid("down_payment", _("A one-payment plan's down payment is the whole total (%s).") % total)
    return monthly_schedule(total, months, first_due, down), total
