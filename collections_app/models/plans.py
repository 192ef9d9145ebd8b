"""Repayment plans and settlements (CONTRACT.md, "Repayment plans and settlements"): what a borrower
in difficulty agreed to pay, by when, and the policy that says who may agree to what."""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .fields import ACTOR_LABEL, ACTOR_USER
from .loans import MONEY

# Shares are stored as fractions (0.200 = 20 %).
SHARE = {"max_digits": 4, "decimal_places": 3}


class Proposer(models.TextChoices):
    """Whose authority a proposal or a decision is measured against."""

    COLLECTOR = "collector", _("Collector")
    SUPERVISOR = "supervisor", _("Supervisor")
    LEGAL_OFFICER = "legal_officer", _("Legal officer")
    BORROWER = "borrower", _("Borrower (self-service)")


class PlanPolicy(models.Model):
    """A strategy's limits on plans. A strategy without one uses the default strategy's (`product`
    empty), and without that the defaults below (the contract's)."""

    strategy = models.OneToOneField(
        "collections_app.Strategy", on_delete=models.CASCADE, related_name="plan_policy", verbose_name=_("strategy")
    )
    max_months = models.PositiveIntegerField(_("longest plan (months)"), default=36)
    min_first_payment_share = models.DecimalField(
        _("smallest first payment (share of the total)"), default=Decimal("0.050"), **SHARE
    )
    grace_days = models.PositiveIntegerField(_("grace days before a missed instalment breaks the plan"), default=5)
    proposal_expiry_days = models.PositiveIntegerField(_("days to decide a proposal"), default=7)
    settlement_max_parts = models.PositiveIntegerField(_("most parts of a settlement"), default=3)
    collector_max_months = models.PositiveIntegerField(_("collector: longest plan (months)"), default=6)
    collector_max_discount = models.DecimalField(_("collector: largest discount"), default=Decimal("0"), **SHARE)
    supervisor_max_months = models.PositiveIntegerField(_("supervisor: longest plan (months)"), default=24)
    supervisor_max_discount = models.DecimalField(_("supervisor: largest discount"), default=Decimal("0.200"), **SHARE)
    legal_officer_max_months = models.PositiveIntegerField(_("legal officer: longest plan (months)"), default=36)
    legal_officer_max_discount = models.DecimalField(
        _("legal officer: largest discount"), default=Decimal("0.400"), **SHARE
    )
    borrower_max_months = models.PositiveIntegerField(_("borrower self-service: longest plan (months)"), default=6)
    borrower_max_discount = models.DecimalField(
        _("borrower self-service: largest discount"), default=Decimal("0"), **SHARE
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("plan policy")
        verbose_name_plural = _("plan policies")
        constraints = [
            models.CheckConstraint(
                condition=Q(min_first_payment_share__gte=0) & Q(min_first_payment_share__lte=1),
                name="plan_policy_first_share_range",
            ),
            models.CheckConstraint(
                condition=Q(collector_max_discount__gte=0)
                & Q(collector_max_discount__lt=1)
                & Q(supervisor_max_discount__gte=0)
                & Q(supervisor_max_discount__lt=1)
                & Q(legal_officer_max_discount__gte=0)
                & Q(legal_officer_max_discount__lt=1)
                & Q(borrower_max_discount__gte=0)
                & Q(borrower_max_discount__lt=1),
                name="plan_policy_discounts_range",
            ),
            models.CheckConstraint(
                condition=Q(settlement_max_parts__gte=1) & Q(max_months__gte=1), name="plan_policy_positive"
            ),
        ]

    def __str__(self):
        return str(self.strategy)

    def clean(self):
        for proposer in Proposer.values:
            if getattr(self, f"{proposer}_max_months") > self.max_months:
                raise ValidationError(
                    {f"{proposer}_max_months": _("An authority cannot reach beyond the longest plan.")}
                )

    def authority(self, proposer):
        """(longest plan in months, largest discount as a fraction) for a proposer."""
        return getattr(self, f"{proposer}_max_months"), getattr(self, f"{proposer}_max_discount")


class PlanKind(models.TextChoices):
    PLAN = "plan", _("Repayment plan")
    SETTLEMENT = "settlement", _("Settlement")


class PlanStatus(models.TextChoices):
    PROPOSED = "proposed", _("Waiting for a decision")
    ACTIVE = "active", _("Active")
    DECLINED = "declined", _("Declined")
    EXPIRED = "expired", _("Expired")
    KEPT = "kept", _("Kept")
    BROKEN = "broken", _("Broken")
    CANCELLED = "cancelled", _("Cancelled")


OPEN_PLAN_STATUSES = (PlanStatus.PROPOSED, PlanStatus.ACTIVE)


class HardshipReason(models.TextChoices):
    INCOME_LOSS = "income_loss", _("Loss of income")
    ILLNESS = "illness", _("Illness")
    FAMILY = "family", _("Family circumstances")
    DISASTER = "disaster", _("Disaster")
    DISPUTE_RESOLVED = "dispute_resolved", _("Dispute resolved")
    OTHER = "other", _("Other")


class RepaymentPlan(models.Model):
    """A plan (everything overdue by its last date, in dated instalments) or a settlement (a
    discounted amount for the whole balance, in a few parts). Only services/plans/ writes it."""

    case = models.ForeignKey("collections_app.Case", on_delete=models.CASCADE, related_name="plans")
    kind = models.CharField(_("kind"), max_length=12, choices=PlanKind.choices)
    status = models.CharField(_("status"), max_length=12, choices=PlanStatus.choices)
    # `reason` and `notes` are personal data (the borrower's circumstances): masked without pii:read.
    reason = models.CharField(_("reason"), max_length=20, choices=HardshipReason.choices)
    notes = models.TextField(_("notes"), blank=True)
    total = models.DecimalField(_("total"), **MONEY)
    # Settlement: the part of `balance` forgiven if kept. Plan: 0.00.
    discount = models.DecimalField(_("discount"), default=Decimal("0.00"), **MONEY)
    # What the borrower owed when it was proposed: the loan's whole outstanding balance.
    balance = models.DecimalField(_("balance when proposed"), **MONEY)
    # Affordability, as the borrower told it (personal data).
    monthly_income = models.DecimalField(_("monthly income"), null=True, blank=True, **MONEY)
    essential_spending = models.DecimalField(_("essential monthly spending"), null=True, blank=True, **MONEY)
    # The authority the proposal needed (whose approval it waits for, when proposed).
    needs_authority = models.CharField(max_length=20, choices=Proposer.choices)
    proposed_by = models.CharField(**ACTOR_LABEL)
    proposed_by_user = models.ForeignKey(**ACTOR_USER)
    decided_by = models.CharField(blank=True, **ACTOR_LABEL)
    decided_by_user = models.ForeignKey(**ACTOR_USER)
    decision_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    decided_at = models.DateTimeField(null=True, blank=True)
    # An undecided proposal expires (the sweep) on this day, in the lender's calendar.
    expires_on = models.DateField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    ended_by = models.CharField(blank=True, **ACTOR_LABEL)
    end_reason = models.TextField(blank=True)

    class Meta:
        verbose_name = _("repayment plan")
        verbose_name_plural = _("repayment plans")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["case"], condition=Q(status__in=["proposed", "active"]), name="one_open_plan_per_case"
            ),
            models.CheckConstraint(condition=Q(total__gt=0), name="plan_total_positive"),
            models.CheckConstraint(condition=Q(discount__gte=0), name="plan_discount_not_negative"),
            models.CheckConstraint(
                condition=Q(kind="settlement") | Q(discount=0), name="plan_discount_only_settlement"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "case"], name="plan_status_case_idx"),
            models.Index(fields=["status", "created_at"], name="plan_status_created_idx"),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.pk} ({self.status})"

    @property
    def is_open(self):
        return self.status in OPEN_PLAN_STATUSES

    @property
    def discount_share(self):
        return (self.discount / self.balance) if self.balance else Decimal("0")


class PlanInstalment(models.Model):
    """One dated amount of a plan. `met` when the payments since the plan began cover the plan's
    amounts up to and including this one (the payment services and the sweep keep it true)."""

    plan = models.ForeignKey(RepaymentPlan, on_delete=models.CASCADE, related_name="instalments")
    number = models.PositiveIntegerField(_("number"))
    due_date = models.DateField(_("due date"))
    amount = models.DecimalField(_("amount"), **MONEY)
    met = models.BooleanField(_("met"), default=False)
    met_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("plan instalment")
        verbose_name_plural = _("plan instalments")
        ordering = ["plan", "number"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "number"], name="plan_instalment_unique_number"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="plan_instalment_amount_positive"),
        ]
        indexes = [models.Index(fields=["due_date", "met"], name="plan_instalment_due_idx")]

    def __str__(self):
        return f"{self.plan_id}#{self.number}"


class VulnerabilityCode(models.TextChoices):
    ILLNESS = "illness", _("Illness")
    BEREAVEMENT = "bereavement", _("Bereavement")
    DISABILITY = "disability", _("Disability")
    ELDERLY = "elderly", _("Elderly")
    HARDSHIP = "hardship", _("Hardship")


class VulnerabilityQuerySet(models.QuerySet):
    def active(self):
        return self.filter(cleared_at__isnull=True)


class VulnerabilityMarker(models.Model):
    """A borrower who needs care: no visit or legal referral by the sweep, `care` reminders. At most
    one active per borrower; clearing keeps the history. Personal data: never shown without pii:read
    outside the case page."""

    class Source(models.TextChoices):
        STAFF = "staff", _("Staff")
        BORROWER = "borrower", _("Borrower (self-service)")

    borrower = models.ForeignKey(
        "collections_app.Borrower", on_delete=models.CASCADE, related_name="vulnerability_markers"
    )
    code = models.CharField(_("vulnerability"), max_length=20, choices=VulnerabilityCode.choices)
    note = models.TextField(_("note"), blank=True)
    source = models.CharField(_("source"), max_length=10, choices=Source.choices, default=Source.STAFF)
    set_by = models.CharField(**ACTOR_LABEL)
    set_by_user = models.ForeignKey(**ACTOR_USER)
    set_at = models.DateTimeField(default=timezone.now)
    review_on = models.DateField(_("review on"))
    # A borrower's own word (self-service) waits for staff to confirm it; staff markers are confirmed.
    confirmed = models.BooleanField(default=True)
    cleared_at = models.DateTimeField(null=True, blank=True)
    cleared_by = models.CharField(blank=True, **ACTOR_LABEL)
    clear_reason = models.TextField(blank=True)

    objects = VulnerabilityQuerySet.as_manager()

    class Meta:
        verbose_name = _("vulnerability marker")
        verbose_name_plural = _("vulnerability markers")
        constraints = [
            models.UniqueConstraint(
                fields=["borrower"], condition=Q(cleared_at__isnull=True), name="one_active_vulnerability_marker"
            )
        ]
        indexes = [models.Index(fields=["cleared_at", "review_on"], name="vulnerability_review_idx")]

    def __str__(self):
        return f"{self.borrower_id}:{self.code}"
