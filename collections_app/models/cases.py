from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..workflow import OPEN_STATES, CaseWorkflow, CloseReason
from .fields import ACTOR_LABEL, ACTOR_USER
from .loans import MONEY


def days_past_due(oldest_unpaid_due_date, as_of):
    """Days past due as of a day: 0 when nothing is overdue (an instalment due on `as_of` is not yet)."""
    if oldest_unpaid_due_date is None or oldest_unpaid_due_date >= as_of:
        return 0
    return (as_of - oldest_unpaid_due_date).days


class Case(CaseWorkflow):
    """One collection case per overdue loan; at most one open at a time (database constraint).

    Days past due are derived from `oldest_unpaid_due_date`, so a day of ageing writes nothing.
    """

    loan = models.ForeignKey("collections_app.Loan", on_delete=models.PROTECT, related_name="cases")
    # Denormalised from the loan (a loan never changes borrower): holds and scope filter on it.
    borrower = models.ForeignKey("collections_app.Borrower", on_delete=models.PROTECT, related_name="cases")
    oldest_unpaid_due_date = models.DateField(_("oldest unpaid due date"), null=True, blank=True)
    amount_overdue = models.DecimalField(_("amount overdue"), default=0, **MONEY)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="assigned_cases"
    )
    queue = models.ForeignKey(
        "collections_app.Queue", null=True, blank=True, on_delete=models.SET_NULL, related_name="cases"
    )
    priority = models.IntegerField(_("priority"), default=0)
    next_action_at = models.DateTimeField(_("next action at"), null=True, blank=True)
    opened_at = models.DateTimeField(_("opened at"), default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(_("closed at"), null=True, blank=True)
    close_reason = models.CharField(max_length=20, choices=CloseReason.choices, blank=True)
    # Moves when state, assignment, amounts, holds or promises change; not when DPD ages.
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)
    # Set by a database trigger whenever updated_at moves (docs/api.md, "Sync"): on PostgreSQL the
    # id of the writing transaction, on SQLite a counter. Never set from Python.
    change_position = models.BigIntegerField(null=True, blank=True, editable=False)
    # The last risk score (CONTRACT.md "Risk and strategy"), written by services.risk.risk_score for every
    # open case each night: null until first scored. A rescore moves `updated_at` only when the band
    # changes (docs/risk.md, "Nightly scoring").
    # Database defaults too: the sweep inserts cases in SQL.
    risk_band = models.CharField(_("risk band"), max_length=1, blank=True, default="", db_default="", editable=False)
    p_cure = models.DecimalField(_("probability of cure"), max_digits=3, decimal_places=2, null=True, editable=False)
    risk_reasons = models.JSONField(_("risk reasons"), default=list, db_default=[], blank=True, editable=False)
    risk_model = models.CharField(_("risk model"), max_length=80, blank=True, default="", db_default="", editable=False)
    risk_scored_at = models.DateTimeField(_("risk scored at"), null=True, blank=True, editable=False)
    # The strategy in force, chosen by rules at the first scoring and again when the band changes
    # (services/strategy_choice.py); null until then: the product's default acts. The group is fixed
    # at the first choice and never changes while the case is open.
    strategy = models.ForeignKey(
        "collections_app.Strategy",
        verbose_name=_("strategy"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="cases",
        editable=False,
    )
    strategy_group = models.CharField(
        _("test group"),
        max_length=10,
        blank=True,
        choices=[("champion", _("champion")), ("challenger", _("challenger"))],
        # A database default too: the sweep and the benchmarks insert cases in SQL (as for risk_band).
        default="",
        db_default="",
        editable=False,
    )

    class Meta:
        verbose_name = _("case")
        verbose_name_plural = _("cases")
        constraints = [
            models.UniqueConstraint(fields=["loan"], condition=Q(state__in=OPEN_STATES), name="one_open_case_per_loan"),
        ]
        indexes = [
            models.Index(fields=["assigned_to", "-priority", "next_action_at"], name="case_worklist_idx"),
            models.Index(fields=["queue", "state"], name="case_queue_state_idx"),
            models.Index(fields=["state", "oldest_unpaid_due_date"], name="case_state_due_idx"),
            models.Index(fields=["updated_at", "id"], name="case_updated_idx"),
            models.Index(fields=["change_position", "id"], name="case_change_position_idx"),
            models.Index(fields=["borrower", "state"], name="case_borrower_state_idx"),
        ]

    def __str__(self):
        return f"case {self.pk} ({self.state})"

    @property
    def is_open(self):
        return self.state in OPEN_STATES

    def dpd(self, as_of):
        return days_past_due(self.oldest_unpaid_due_date, as_of)

    @property
    def borrower_on_hold(self):
        # Selectors annotate `active_hold_exists` so lists ask no extra query per row.
        if "active_hold_exists" in self.__dict__:
            return self.__dict__["active_hold_exists"]
        from .borrowers import Hold

        return Hold.objects.active().filter(borrower_id=self.borrower_id).exists()

    @property
    def borrower_vulnerable(self):
        """Does the borrower carry an active vulnerability marker? (`vulnerable_exists` when a selector
        annotated it.)"""
        if "vulnerable_exists" in self.__dict__:
            return self.__dict__["vulnerable_exists"]
        from .plans import VulnerabilityMarker

        return VulnerabilityMarker.objects.active().filter(borrower_id=self.borrower_id).exists()

    @property
    def active_hold_codes(self):
        """Codes of the borrower's active holds (from the selectors' prefetch when present)."""
        holds = getattr(self.borrower, "active_holds", None)
        if holds is None:
            from .borrowers import Hold

            holds = Hold.objects.active().filter(borrower_id=self.borrower_id).order_by("starts_at")
        return sorted({h.code for h in holds})

    def allowed_transitions(self, actor):
        """Names of the requestable transitions this actor may run now (holds and referrals included)."""
        from ..workflow import REQUESTABLE_TRANSITIONS

        names = []
        for t in self.get_available_user_state_transitions(actor):
            if t.name in REQUESTABLE_TRANSITIONS and t.name not in names:
                names.append(t.name)
        return names


class ContactAttempt(models.Model):
    """A contact that took place. Always recorded, never refused; a broken rule is kept in `breach`."""

    class Channel(models.TextChoices):
        CALL = "call", _("Call")
        SMS = "sms", _("SMS")
        EMAIL = "email", _("E-mail")
        VISIT = "visit", _("Visit")

    class Direction(models.TextChoices):
        OUTBOUND = "outbound", _("Outbound")
        INBOUND = "inbound", _("Inbound")

    class Outcome(models.TextChoices):
        RIGHT_PARTY_CONTACT = "right_party_contact", _("Right-party contact")
        THIRD_PARTY = "third_party", _("Third party")
        NO_ANSWER = "no_answer", _("No answer")
        BUSY = "busy", _("Busy")
        WRONG_NUMBER = "wrong_number", _("Wrong number")
        REFUSED = "refused", _("Refused")
        PROMISE_MADE = "promise_made", _("Promise made")
        DISPUTE_RAISED = "dispute_raised", _("Dispute raised")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="contacts")
    borrower = models.ForeignKey("collections_app.Borrower", on_delete=models.CASCADE, related_name="contact_attempts")
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    direction = models.CharField(_("direction"), max_length=10, choices=Direction.choices, default=Direction.OUTBOUND)
    phone = models.CharField(_("number used"), max_length=32, blank=True)
    outcome = models.CharField(_("outcome"), max_length=30, choices=Outcome.choices)
    notes = models.TextField(_("notes"), blank=True)
    breach = models.CharField(_("rule broken"), max_length=40, blank=True)
    actor = models.CharField(**ACTOR_LABEL)
    actor_user = models.ForeignKey(**ACTOR_USER)
    occurred_at = models.DateTimeField(_("occurred at"), default=timezone.now)
    recorded_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        indexes = [
            models.Index(fields=["borrower", "occurred_at"], name="contact_borrower_at_idx"),
            models.Index(fields=["case", "occurred_at"], name="contact_case_at_idx"),
            models.Index(fields=["phone", "occurred_at"], name="contact_phone_at_idx"),
        ]

    # Someone picked up (an effective call).
    CONNECTED = {
        Outcome.RIGHT_PARTY_CONTACT,
        Outcome.THIRD_PARTY,
        Outcome.REFUSED,
        Outcome.PROMISE_MADE,
        Outcome.DISPUTE_RAISED,
    }
    # A conversation with the borrower themself (right-party contact).
    CONVERSATION = {Outcome.RIGHT_PARTY_CONTACT, Outcome.REFUSED, Outcome.PROMISE_MADE, Outcome.DISPUTE_RAISED}


class PromiseToPay(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        KEPT = "kept", _("Kept")
        BROKEN = "broken", _("Broken")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="promises")
    amount = models.DecimalField(_("amount"), **MONEY)
    due_date = models.DateField(_("due date"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    contact = models.ForeignKey(ContactAttempt, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor = models.CharField(**ACTOR_LABEL)
    actor_user = models.ForeignKey(**ACTOR_USER)
    created_at = models.DateTimeField(default=timezone.now)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("promise to pay")
        verbose_name_plural = _("promises to pay")
        indexes = [models.Index(fields=["status", "due_date"], name="promise_status_due_idx")]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="promise_amount_positive")]


class Visit(models.Model):
    class Status(models.TextChoices):
        PLANNED = "planned", _("Planned")
        DONE = "done", _("Done")
        CANCELLED = "cancelled", _("Cancelled")

    class Outcome(models.TextChoices):
        MET_BORROWER = "met_borrower", _("Met the borrower")
        NOT_HOME = "not_home", _("Nobody at home")
        MOVED = "moved", _("Borrower moved")
        REFUSED = "refused", _("Refused to talk")
        PROMISE_MADE = "promise_made", _("Promise made")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="visits")
    scheduled_for = models.DateTimeField(_("scheduled for"))
    agents = models.ManyToManyField(settings.AUTH_USER_MODEL, related_name="visits")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PLANNED)
    outcome = models.CharField(_("outcome"), max_length=20, choices=Outcome.choices, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    planned_by = models.CharField(**ACTOR_LABEL)
    created_at = models.DateTimeField(default=timezone.now)
    recorded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("visit")
        verbose_name_plural = _("visits")
        indexes = [models.Index(fields=["status", "scheduled_for"], name="visit_status_when_idx")]


class LegalReferral(models.Model):
    class Status(models.TextChoices):
        REQUESTED = "requested", _("Requested")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="legal_referrals")
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.REQUESTED)
    reason = models.TextField(_("reason"), blank=True)
    requested_by = models.CharField(**ACTOR_LABEL)
    requested_by_user = models.ForeignKey(**ACTOR_USER)
    requested_at = models.DateTimeField(default=timezone.now)
    decided_by = models.CharField(blank=True, **ACTOR_LABEL)
    decided_by_user = models.ForeignKey(**ACTOR_USER)
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)

    class Meta:
        verbose_name = _("legal referral")
        verbose_name_plural = _("legal referrals")
        constraints = [
            models.UniqueConstraint(
                fields=["case"], condition=Q(status="requested"), name="one_pending_referral_per_case"
            )
        ]
        indexes = [
            # /approvals/ lists the latest decisions: without it, every referral ever decided is sorted.
            models.Index(
                fields=["-decided_at", "-id"],
                condition=Q(decided_at__isnull=False) & ~Q(status="requested"),
                name="referral_latest_decided_idx",
            )
        ]
