from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .fields import ACTOR_LABEL

MONEY = {"max_digits": 14, "decimal_places": 2}


class Loan(models.Model):
    external_id = models.CharField(_("external id"), max_length=64, unique=True)
    borrower = models.ForeignKey("collections_app.Borrower", on_delete=models.PROTECT, related_name="loans")
    product = models.CharField(_("product"), max_length=64, default="consumer")
    principal = models.DecimalField(_("principal"), **MONEY)
    currency = models.CharField(_("currency"), max_length=3, default=settings.COLLECTIONS_CURRENCY)
    disbursed_on = models.DateField(_("disbursed on"))
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)
    # Early warning (CONTRACT.md "Risk and strategy"): for a loan with an instalment due in the next 7
    # days and nothing overdue, the probability that the instalment is paid within 7 days of its due
    # date, with its band (the cases' cut-offs), reasons, model and time. Null otherwise: the nightly
    # scoring clears it when the loan leaves that set.
    p_pay = models.DecimalField(_("probability of paying"), max_digits=3, decimal_places=2, null=True, editable=False)
    pay_band = models.CharField(_("payment band"), max_length=1, blank=True, default="", db_default="", editable=False)
    pay_reasons = models.JSONField(_("payment reasons"), default=list, db_default=[], blank=True, editable=False)
    pay_model = models.CharField(
        _("payment model"), max_length=80, blank=True, default="", db_default="", editable=False
    )
    pay_scored_at = models.DateTimeField(_("payment scored at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("loan")
        verbose_name_plural = _("loans")
        constraints = [models.CheckConstraint(condition=Q(principal__gt=0), name="loan_principal_positive")]

    def __str__(self):
        return self.external_id


class Instalment(models.Model):
    loan = models.ForeignKey(Loan, on_delete=models.CASCADE, related_name="instalments")
    number = models.PositiveIntegerField(_("number"))
    due_date = models.DateField(_("due date"))
    amount_due = models.DecimalField(_("amount due"), **MONEY)
    amount_paid = models.DecimalField(_("amount paid"), default=0, **MONEY)

    class Meta:
        verbose_name = _("instalment")
        verbose_name_plural = _("instalments")
        ordering = ["loan_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["loan", "number"], name="instalment_unique_number"),
            models.CheckConstraint(condition=Q(amount_due__gte=0), name="instalment_amount_due_not_negative"),
            models.CheckConstraint(
                condition=Q(amount_paid__gte=0) & Q(amount_paid__lte=F("amount_due")),
                name="instalment_paid_within_due",
            ),
        ]
        indexes = [
            models.Index(fields=["loan", "due_date"], name="instalment_loan_due_idx"),
            # The sweep and the reminder planner look up instalments by due date.
            models.Index(fields=["due_date"], name="instalment_due_idx"),
        ]

    def __str__(self):
        return f"{self.loan_id}#{self.number}"

    @property
    def amount_outstanding(self):
        return self.amount_due - self.amount_paid


class Payment(models.Model):
    external_id = models.CharField(_("external id"), max_length=64, unique=True)
    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="payments")
    amount = models.DecimalField(_("amount"), **MONEY)
    paid_at = models.DateTimeField(_("paid at"))
    channel = models.CharField(_("channel"), max_length=32, default="bank_transfer")
    recorded_by_label = models.CharField(**ACTOR_LABEL)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # The part of the amount that exceeded everything outstanding (kept, not lost).
    unapplied_amount = models.DecimalField(default=0, **MONEY)
    reversed_at = models.DateTimeField(null=True, blank=True)
    reversed_by_label = models.CharField(blank=True, **ACTOR_LABEL)
    reversal_reason = models.TextField(blank=True)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive")]
        indexes = [models.Index(fields=["loan", "paid_at"], name="payment_loan_paid_idx")]

    def __str__(self):
        return self.external_id


class PaymentAllocation(models.Model):
    """How much of a payment went to which instalment, so a reversal undoes exactly that."""

    payment = models.ForeignKey(Payment, on_delete=models.CASCADE, related_name="allocations")
    instalment = models.ForeignKey(Instalment, on_delete=models.CASCADE, related_name="allocations")
    amount = models.DecimalField(**MONEY)

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="allocation_amount_positive")]
