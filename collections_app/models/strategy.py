from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..compliance import PRESETS

MAX_CHALLENGER_SHARE = 50  # CONTRACT.md "Risk and strategy": a share of 0–50 %
BANDS = "ABCDE"


class Strategy(models.Model):
    """How a case is collected: the days past due at which each stage starts, the contact policy, and
    the reminder plan (its steps).

    `product` says whose default it is: a product's (its name), every product without one of its own
    (empty), or nobody's (NULL, "chosen by rules only"): such a strategy acts only on the cases the
    rules (StrategyRule) choose it for. Every lookup by product (`product = loan.product`, `product
    IN (...)`) passes NULL by, so the product defaults and every fallback keep working unchanged.

    A strategy may name a `challenger` and the share of its cases (0–50 %) that follow it: the case's
    group is fixed at its first choice (services/strategy_choice.py)."""

    product = models.CharField(
        _("product"),
        max_length=64,
        blank=True,
        null=True,
        unique=True,
        help_text=_(
            "The product this strategy is the default of; empty: the default for products without a "
            "strategy of their own. A strategy chosen by rules only is nobody's default."
        ),
    )
    name = models.CharField(_("name"), max_length=100)
    call_at_dpd = models.PositiveIntegerField(_("calls start at DPD"), default=8)
    visit_at_dpd = models.PositiveIntegerField(_("visits start at DPD"), default=31)
    legal_at_dpd = models.PositiveIntegerField(_("legal review starts at DPD"), default=61)
    contact_policy = models.CharField(
        _("contact policy"), max_length=20, default="china", choices=[(name, name) for name in PRESETS]
    )
    # Local time at which reminders of this strategy are planned to go out.
    send_at = models.TimeField(_("send reminders at (borrower's time)"), default="10:00")
    challenger = models.ForeignKey(
        "self",
        verbose_name=_("challenger"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="challenged",
        help_text=_("Another strategy tested against this one on a share of its cases."),
    )
    challenger_share = models.PositiveSmallIntegerField(
        _("challenger share (%)"),
        default=0,
        help_text=_("The percentage of this strategy's new cases that follow the challenger: 0 to 50."),
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("strategy")
        verbose_name_plural = _("strategies")
        ordering = ["product"]
        constraints = [
            models.CheckConstraint(
                condition=Q(call_at_dpd__gte=1)
                & Q(visit_at_dpd__gt=models.F("call_at_dpd"))
                & Q(legal_at_dpd__gt=models.F("visit_at_dpd")),
                name="strategy_thresholds_increase",
            ),
            models.CheckConstraint(
                condition=Q(challenger_share__gte=0) & Q(challenger_share__lte=MAX_CHALLENGER_SHARE),
                name="strategy_challenger_share_range",
            ),
            models.CheckConstraint(
                condition=Q(challenger__isnull=True) | ~Q(challenger=models.F("id")),
                name="strategy_not_own_challenger",
            ),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        errors = {}
        if not (1 <= self.call_at_dpd < self.visit_at_dpd < self.legal_at_dpd):
            errors["visit_at_dpd"] = _("Thresholds must increase: calls < visits < legal review.")
        if not 0 <= (self.challenger_share or 0) <= MAX_CHALLENGER_SHARE:
            errors["challenger_share"] = _(
                "The challenger's share must be from 0 to %(max)s %%; it is %(share)s %%."
            ) % {
                "max": MAX_CHALLENGER_SHARE,
                "share": self.challenger_share,
            }
        if self.challenger_id is not None and self.pk is not None and self.challenger_id == self.pk:
            errors["challenger"] = _("Strategy “%(name)s” cannot be its own challenger.") % {"name": self.name}
        if errors:
            raise ValidationError(errors)

    @property
    def rules_only(self):
        """Nobody's default: acts only on the cases rules choose it for."""
        return self.product is None

    @property
    def thresholds(self):
        from ..strategy import StageThresholds

        return StageThresholds(call=self.call_at_dpd, visit=self.visit_at_dpd, legal=self.legal_at_dpd)


def validate_pay_bands(value):
    """`ReminderStep.only_pay_bands`: band letters (A–E), each at most once; empty: every loan."""
    bad = sorted({letter for letter in value if letter not in BANDS})
    if bad:
        raise ValidationError(
            _("Only the band letters A to E (capitals), e.g. DE; not %(bad)s."),
            code="invalid_band",
            params={"bad": " ".join(bad)},
        )
    if len(set(value)) != len(value):
        raise ValidationError(_("Name each band once."), code="repeated_band")


class ReminderStep(models.Model):
    """One message of a strategy's reminder plan, `offset_days` from an instalment's due date
    (negative: before it falls due). `only_pay_bands` limits the step to loans whose `pay_band` (as
    last scored: loans due in the next 7 days with nothing overdue) is one of its letters, e.g. "DE"
    for the early warning (`pre_due_early`); empty, every loan."""

    class Channel(models.TextChoices):
        SMS = "sms", _("SMS")
        EMAIL = "email", _("E-mail")

    strategy = models.ForeignKey(Strategy, on_delete=models.CASCADE, related_name="steps")
    offset_days = models.IntegerField(_("days from due date"))
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    template_code = models.CharField(_("template"), max_length=50)
    only_pay_bands = models.CharField(
        _("only for payment bands"),
        max_length=len(BANDS),
        blank=True,
        default="",
        validators=[validate_pay_bands],
        help_text=_(
            "Band letters of the loan's probability of paying (p_pay), e.g. DE: the step is planned only for "
            "loans scored in those bands. Empty: every loan."
        ),
    )

    class Meta:
        verbose_name = _("reminder step")
        verbose_name_plural = _("reminder steps")
        ordering = ["strategy", "offset_days", "channel"]
        constraints = [
            models.UniqueConstraint(fields=["strategy", "offset_days", "channel"], name="reminder_step_unique")
        ]

    def __str__(self):
        return f"{self.strategy} {self.offset_days:+d}d {self.channel}"

    def clean(self):
        # Keep valid letters in band order ("ED" is saved as "DE"); the validator refuses the rest.
        bands = self.only_pay_bands or ""
        if set(bands) <= set(BANDS) and len(set(bands)) == len(bands):
            self.only_pay_bands = "".join(b for b in BANDS if b in bands)

    @property
    def pay_bands(self):
        """The bands the step is limited to (a list of letters), or None for every loan."""
        return list(self.only_pay_bands) if self.only_pay_bands else None


class MessageTemplate(models.Model):
    """Text per channel and language. Variables: {name} {amount_overdue} {amount_due} {due_date}
    {loan} {how_to_pay}. Electronic messages get the opt-out line added when sent."""

    code = models.CharField(_("code"), max_length=50)
    channel = models.CharField(_("channel"), max_length=10, choices=ReminderStep.Channel.choices)
    language = models.CharField(_("language"), max_length=8, choices=[("zh-hans", "简体中文"), ("en", "English")])
    subject = models.CharField(_("subject"), max_length=200, blank=True)
    body = models.TextField(_("body"))
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        constraints = [models.UniqueConstraint(fields=["code", "channel", "language"], name="message_template_unique")]

    def __str__(self):
        return f"{self.code}/{self.channel}/{self.language}"


class MonthEndSnapshot(models.Model):
    """(case, bucket, amount) at a month's end, written by the sweep: what roll rates are computed from."""

    month_end = models.DateField(_("month end"))
    case = models.ForeignKey("collections_app.Case", on_delete=models.CASCADE, related_name="snapshots")
    state = models.CharField(max_length=20)
    dpd = models.PositiveIntegerField()
    bucket = models.CharField(max_length=20, blank=True)
    amount_overdue = models.DecimalField(max_digits=14, decimal_places=2)

    class Meta:
        verbose_name = _("month-end snapshot")
        verbose_name_plural = _("month-end snapshots")
        constraints = [models.UniqueConstraint(fields=["month_end", "case"], name="snapshot_unique_case_month")]
        indexes = [models.Index(fields=["month_end", "bucket"], name="snapshot_month_bucket_idx")]


class SweepRun(models.Model):
    """What a sweep for a date did: kept for operators; the sweep itself is idempotent without it."""

    as_of = models.DateField()
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    counts = models.JSONField(default=dict)
    chunks_done = models.PositiveIntegerField(default=0)
    chunks_total = models.PositiveIntegerField(default=0)
    full_refresh = models.BooleanField(default=False)

    class Meta:
        verbose_name = _("sweep run")
        verbose_name_plural = _("sweep runs")
        ordering = ["-started_at"]


class SweepChunk(models.Model):
    """One chunk of a sweep run, claimed by one worker at a time with a lease: a worker that dies
    leaves the chunk `running` with an expired lease, and `sweep_requeue` hands it to another within
    minutes. A chunk's work and its `done` mark commit together, so it counts once per run."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    run = models.ForeignKey(SweepRun, on_delete=models.CASCADE, related_name="chunks")
    seq = models.PositiveIntegerField()
    kind = models.CharField(max_length=10)
    lo = models.BigIntegerField()
    hi = models.BigIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    lease_until = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    counts = models.JSONField(default=dict)
    error = models.TextField(blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("sweep chunk")
        verbose_name_plural = _("sweep chunks")
        ordering = ["run", "seq"]
        constraints = [models.UniqueConstraint(fields=["run", "seq"], name="sweep_chunk_unique_seq")]
        indexes = [models.Index(fields=["status", "lease_until"], name="sweep_chunk_lease_idx")]


class StrategyRule(models.Model):
    """One rule choosing a strategy for cases of a product, risk band and bucket (each empty: any).
    Rules are tried in `position` order and the first that matches decides (an explicit order, as in a
    firewall: a reader sees which rule wins without computing specificities; put specific rules
    first and a catch-all last). A rule set must leave no product, band and bucket without a rule
    (services/strategy_choice.py `strategy_rules_problems`, which the admin asks); no rules at all
    means every case follows its product's default strategy."""

    position = models.PositiveIntegerField(_("position"), unique=True, help_text=_("Lower positions are tried first."))
    product = models.CharField(_("product"), max_length=64, blank=True, help_text=_("Empty: any product."))
    band = models.CharField(
        _("risk band"),
        max_length=1,
        blank=True,
        choices=[(b, b) for b in BANDS],
        help_text=_("Empty: any band."),
    )
    bucket = models.ForeignKey(
        "collections_app.Bucket",
        verbose_name=_("bucket"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="strategy_rules",
        help_text=_("Empty: any bucket."),
    )
    strategy = models.ForeignKey(Strategy, verbose_name=_("strategy"), on_delete=models.PROTECT, related_name="rules")

    class Meta:
        verbose_name = _("strategy rule")
        verbose_name_plural = _("strategy rules")
        ordering = ["position"]

    def __str__(self):
        any_ = _("any")
        return (
            f"#{self.position}: {self.product or any_} / {self.band or any_} / {self.bucket or any_} → {self.strategy}"
        )

    def matches(self, product, band, bucket_id):
        return (
            (not self.product or self.product == product)
            and (not self.band or self.band == band)
            and (self.bucket_id is None or self.bucket_id == bucket_id)
        )


class StrategyChoice(models.Model):
    """The bookkeeping of a case's strategy choices (services/strategy_choice.py): written at its
    first choice, updated at each later one. The case itself carries the strategy in force and its
    group (Case.strategy, Case.strategy_group: what the sweep, the planner and the API read).

    `test_strategy` is the strategy the rules chose at the first choice when it had a challenger
    then: the champion/challenger test the case counts in for good (intention to treat), whatever
    later band changes choose. `amount_overdue` and `chosen_at` are those of the first choice (what
    the "Strategy tests" page measures from); `band` is the band at the last choice."""

    case = models.OneToOneField(
        "collections_app.Case", on_delete=models.CASCADE, primary_key=True, related_name="strategy_choice"
    )
    band = models.CharField(_("band at the last choice"), max_length=1)
    test_strategy = models.ForeignKey(
        Strategy, null=True, blank=True, on_delete=models.PROTECT, related_name="test_choices"
    )
    chosen_at = models.DateTimeField(_("first chosen at"))
    chosen_on = models.DateField(_("first chosen on"))
    # The first choice + 30 days: a case resolved by then is cured at 30 days (the tests page).
    cure_by = models.DateTimeField(_("cured at 30 days if resolved by"))
    amount_overdue = models.DecimalField(_("amount overdue at the first choice"), max_digits=14, decimal_places=2)
    changed_at = models.DateTimeField(_("last chosen at"))

    class Meta:
        verbose_name = _("strategy choice")
        verbose_name_plural = _("strategy choices")
        indexes = [models.Index(fields=["test_strategy", "chosen_on"], name="strategy_choice_test_idx")]
