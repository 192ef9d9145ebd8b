"""Money in and money back: payments apply to the oldest instalments first and move the case with
them (resolve when nothing is overdue; reopen or re-age on a reversal), in one transaction."""

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import permissions as perms
from ..actors import as_actor
from ..errors import DomainError, invalid
from ..models import Case, Instalment, Loan, Payment, PaymentAllocation, PromiseToPay
from ..workflow import OPEN_STATES
from ._common import parse_moment, parse_money, require_text
from .cases import case_sync_with_loan
from .events import event_write
from .plans import plan_refresh


@dataclass(frozen=True)
class PaymentResult:
    payment: Payment
    created: bool


def _same_payment(payment, loan, amount, paid_at, channel):
    return (payment.loan_id, payment.amount, payment.paid_at, payment.channel) == (loan.pk, amount, paid_at, channel)


def payment_record(*, external_id, loan, amount, paid_at, channel="bank_transfer", actor=None):
    """Record a payment by its external id. A replay with the same data returns the original
    (created=False); the same id with other data is refused as `idempotency_conflict`."""
    actor = as_actor(actor)
    if not perms.may_record_payment(actor):
        raise DomainError("permission_denied")
    external_id = require_text(external_id, "external_id", max_length=64)
    amount = parse_money(amount, "amount")
    paid = parse_moment(paid_at, "paid_at", not_future=True)
    channel = require_text(channel, "channel", max_length=32)
    loan_filter = Q(pk=loan.pk) if isinstance(loan, Loan) else Q(external_id=loan)
    try:
        with transaction.atomic():
            # The loan row lock orders concurrent payments of one loan and makes the replay check exact.
            loan_row = Loan.objects.select_for_update().filter(loan_filter).first()
            if loan_row is None:
                raise invalid("loan", _("No loan with this external id."))
            existing = Payment.objects.filter(external_id=external_id).first()
            if existing is not None:
                return _replay(existing, loan_row, amount, paid, channel)
            payment = Payment.objects.create(
                external_id=external_id,
                loan=loan_row,
                amount=amount,
                paid_at=paid,
                channel=channel,
                recorded_by_label=actor.label,
            )
            applied = _allocate(payment)
            payment.unapplied_amount = amount - applied
            payment.save(update_fields=["unapplied_amount"])
            case = Case.objects.select_for_update(of=("self",)).filter(loan=loan_row, state__in=OPEN_STATES).first()
            if case is not None:
                event_write(
                    case,
                    "payment_recorded",
                    actor,
                    payload={
                        "external_id": external_id,
                        "amount": str(amount),
                        "channel": channel,
                        "paid_at": paid.isoformat(),
                        "unapplied": str(payment.unapplied_amount),
                    },
                )
                _settle_promises(case, actor)
                # Before the case's amounts: a kept settlement closes the case as settled, not resolved.
                plan_refresh(case, actor)
            case_sync_with_loan(loan_id=loan_row.pk, actor=actor, cause=_("payment %s") % external_id)
            return PaymentResult(payment, True)
    except IntegrityError:
        # A concurrent request for another loan took this external id first.
        existing = Payment.objects.filter(external_id=external_id).first()
        if existing is None:
            raise
        raise DomainError(
            "idempotency_conflict", fields={"external_id": [_("Already used for another payment.")]}
        ) from None


def _replay(existing, loan, amount, paid, channel):
    if not _same_payment(existing, loan, amount, paid, channel):
        raise DomainError(
            "idempotency_conflict",
            fields={"external_id": [_("A different payment with this external id exists.")]},
        )
    return PaymentResult(existing, False)


def _allocate(payment):
    """Apply the payment to the oldest unpaid instalments first; returns the amount applied."""
    remaining = payment.amount
    instalments = list(
        Instalment.objects.select_for_update()
        .filter(loan_id=payment.loan_id)
        .filter(amount_paid__lt=F("amount_due"))
        .order_by("due_date", "number")
    )
    allocations = []
    for instalment in instalments:
        if remaining <= 0:
            break
        take = min(remaining, instalment.amount_due - instalment.amount_paid)
        if take <= 0:
            continue
        instalment.amount_paid += take
        remaining -= take
        allocations.append(PaymentAllocation(payment=payment, instalment=instalment, amount=take))
    if allocations:
        Instalment.objects.bulk_update([a.instalment for a in allocations], ["amount_paid"])
        PaymentAllocation.objects.bulk_create(allocations)
    return payment.amount - remaining


def _settle_promises(case, actor):
    """A pending promise is kept once payments since it was made, up to its date, reach its amount."""
    for promise in case.promises.select_for_update().filter(status=PromiseToPay.Status.PENDING):
        end_of_due_day = datetime.combine(
            promise.due_date + timedelta(days=1), time(0), tzinfo=settings.LENDER_TIME_ZONE
        )
        paid = Payment.objects.filter(
            loan_id=case.loan_id,
            reversed_at__isnull=True,
            paid_at__gte=promise.created_at,
            paid_at__lt=end_of_due_day,
        ).aggregate(total=Sum("amount"))["total"] or Decimal("0")
        if paid >= promise.amount:
            promise.status, promise.settled_at = PromiseToPay.Status.KEPT, timezone.now()
            promise.save(update_fields=["status", "settled_at"])
            event_write(case, "promise_kept", actor, payload={"promise_id": promise.pk, "amount": str(promise.amount)})


def payment_reverse(*, external_id, actor=None, reason=""):
    """Undo a payment (a bounced transfer): its allocations come off the instalments and the case is
    reopened or re-aged. Reversing twice returns the reversed payment (created=False)."""
    actor = as_actor(actor)
    if not perms.may_record_payment(actor):
        raise DomainError("permission_denied")
    reason = require_text(reason, "reason")
    with transaction.atomic():
        payment = Payment.objects.filter(external_id=external_id).first()
        if payment is None:
            raise DomainError("not_found")
        Loan.objects.select_for_update().filter(pk=payment.loan_id).first()
        payment = Payment.objects.select_for_update().get(pk=payment.pk)
        if payment.reversed_at is not None:
            return PaymentResult(payment, False)
        allocations = list(payment.allocations.select_related("instalment").select_for_update(of=("self",)))
        for allocation in allocations:
            allocation.instalment.amount_paid -= allocation.amount
        Instalment.objects.bulk_update([a.instalment for a in allocations], ["amount_paid"])
        payment.reversed_at, payment.reversed_by_label, payment.reversal_reason = timezone.now(), actor.label, reason
        payment.save(update_fields=["reversed_at", "reversed_by_label", "reversal_reason"])
        result = case_sync_with_loan(loan_id=payment.loan_id, actor=actor, cause=_("reversal of %s") % external_id)
        if result.case is not None and result.case.is_open:
            plan_refresh(result.case, actor)
        if result.case is not None:
            event_write(
                result.case,
                "payment_reversed",
                actor,
                reason=reason,
                payload={
                    "external_id": external_id,
                    "amount": str(payment.amount),
                },
            )
    return PaymentResult(payment, True)
