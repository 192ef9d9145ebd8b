"""Risk scoring (CONTRACT.md "Risk and strategy"): versioned scorers, a scorecard's points table,
the band cut-offs and the record of each nightly scoring run. The scores themselves live on the rows
they describe (Case: band, p_cure, reasons, model, scored_at; Loan: p_pay and the same), so every
page and API answer reads them with the row, no query more.

What a characteristic means, how it is computed as of a date and which reason code it gives:
docs/risk.md and services/risk/features.py."""

from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Target(models.TextChoices):
    """What a scorer estimates: `cure` for open cases (`p_cure`: nothing overdue 30 days after
    scoring), `pay` for loans not yet overdue (`p_pay`: the next instalment paid within 7 days of
    its due date)."""

    CURE = "cure", _("Cure (open cases, p_cure)")
    PAY = "pay", _("Pay (loans due soon, p_pay)")


class ScorerKind(models.TextChoices):
    SCORECARD = "scorecard", _("Scorecard (points table)")
    MODEL = "model", _("Trained model")


class Characteristic(models.TextChoices):
    """The characteristics a scorer may use (features.py computes each as of a date)."""

    DPD = "dpd", _("Days past due")
    BROKEN_PROMISES = "broken_promises", _("Broken promises to pay")
    PAID_SHARE = "paid_share", _("Share of the loan already paid")
    DAYS_SINCE_PAYMENT = "days_since_payment", _("Days since the last payment")
    DAYS_SINCE_CONTACT = "days_since_contact", _("Days since the last right-party contact")
    LOAN_AGE = "loan_age", _("Loan age in days")
    BORROWER_LOANS = "borrower_loans", _("Loans of the borrower")
    PRODUCT = "product", _("Product")
    AMOUNT_OVERDUE = "amount_overdue", _("Amount overdue")
    PAST_CURES = "past_cures", _("Earlier cases of the borrower cured")
    PAST_CASES = "past_cases", _("Earlier cases of the borrower")


# The reason code each characteristic gives when it costs points (CONTRACT.md: "reason codes name the
# characteristics that cost the most"). One code per characteristic, named after the way it usually
# costs points (a scorecard that penalises the other end still reports the same code).
REASON_CODES = {
    Characteristic.DPD: "high_dpd",
    Characteristic.BROKEN_PROMISES: "broken_promises",
    Characteristic.PAID_SHARE: "low_paid_share",
    Characteristic.DAYS_SINCE_PAYMENT: "no_recent_payment",
    Characteristic.DAYS_SINCE_CONTACT: "no_contact_14d",
    Characteristic.LOAN_AGE: "new_loan",
    Characteristic.BORROWER_LOANS: "many_loans",
    Characteristic.PRODUCT: "risky_product",
    Characteristic.AMOUNT_OVERDUE: "high_amount_overdue",
    Characteristic.PAST_CURES: "no_past_cures",
    Characteristic.PAST_CASES: "past_arrears",
}

# Characteristics whose bins name categories (`category`; an empty category catches every other value)
# instead of numeric ranges.
CATEGORICAL = frozenset({Characteristic.PRODUCT})

# What each target can use: an open case has arrears; a loan not yet overdue has none to measure.
TARGET_CHARACTERISTICS = {
    Target.CURE: (
        Characteristic.DPD,
        Characteristic.BROKEN_PROMISES,
        Characteristic.PAID_SHARE,
        Characteristic.DAYS_SINCE_PAYMENT,
        Characteristic.DAYS_SINCE_CONTACT,
        Characteristic.LOAN_AGE,
        Characteristic.BORROWER_LOANS,
        Characteristic.PRODUCT,
        Characteristic.AMOUNT_OVERDUE,
        Characteristic.PAST_CURES,
    ),
    Target.PAY: (
        Characteristic.PAST_CASES,
        Characteristic.BROKEN_PROMISES,
        Characteristic.PAID_SHARE,
        Characteristic.DAYS_SINCE_PAYMENT,
        Characteristic.LOAN_AGE,
        Characteristic.BORROWER_LOANS,
        Characteristic.PRODUCT,
    ),
}


class Scorer(models.Model):
    """One version of a scorer. At most one is active per target (database constraint); operators
    switch with the admin's "make active" action (services.risk.scorer_activate), which refuses a
    scorecard whose bins overlap or leave a gap, so the active one is always usable.

    A `scorecard` is its bins (ScorecardBin) and its scaling: the points summed give the log-odds
    ln(base_odds) + (points - base_score) * ln 2 / points_to_double_odds. A `model` (trained by
    `risk_train`, a later piece) keeps its fitted estimator in `artifact`."""

    name = models.CharField(_("name"), max_length=64)
    version = models.PositiveIntegerField(_("version"), default=1)
    kind = models.CharField(_("kind"), max_length=10, choices=ScorerKind.choices, default=ScorerKind.SCORECARD)
    target = models.CharField(_("target"), max_length=10, choices=Target.choices)
    active = models.BooleanField(_("active"), default=False, editable=False)
    description = models.TextField(_("description"), blank=True)
    base_score = models.DecimalField(_("base score"), max_digits=8, decimal_places=2, default=500)
    base_odds = models.DecimalField(
        _("odds at the base score"),
        max_digits=10,
        decimal_places=4,
        default=1,
        help_text=_("Odds of the outcome (cure or pay) against its absence at the base score: 1 = 50 %."),
    )
    points_to_double_odds = models.DecimalField(
        _("points to double the odds"), max_digits=8, decimal_places=2, default=40
    )
    # AUC, KS and calibration by decile ({"auc", "ks", "calibration": [{"decile", "predicted", "observed", "n"}]}),
    # written by training; empty for a hand-made scorecard.
    metrics = models.JSONField(_("metrics"), default=dict, blank=True)
    train_from = models.DateField(_("trained from"), null=True, blank=True)
    train_to = models.DateField(_("trained to"), null=True, blank=True)
    # The fitted estimator of a `model` scorer (risk_train, later): serialized bytes, never edited here.
    artifact = models.BinaryField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("scorer")
        verbose_name_plural = _("scorers")
        ordering = ["target", "name", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="scorer_unique_version"),
            models.UniqueConstraint(fields=["target"], condition=Q(active=True), name="one_active_scorer_per_target"),
            models.CheckConstraint(
                condition=Q(base_odds__gt=0) & Q(points_to_double_odds__gt=0), name="scorer_scaling_positive"
            ),
        ]

    def __str__(self):
        return self.label

    @property
    def label(self):
        """What a score records as its `model`: `<name>-<version>`."""
        return f"{self.name}-{self.version}"


class ScorecardBin(models.Model):
    """One row of a scorecard's points table: a characteristic's value in [lower, upper) (an empty
    bound is open-ended), or for a categorical characteristic its `category` (empty: any other),
    earns `points`. services.risk.scorecard_check refuses overlaps and gaps."""

    scorer = models.ForeignKey(Scorer, on_delete=models.CASCADE, related_name="bins")
    characteristic = models.CharField(_("characteristic"), max_length=32, choices=Characteristic.choices)
    lower = models.DecimalField(
        _("from (included)"),
        max_digits=14,
        decimal_places=4,
        null=True,
        blank=True,
        help_text=_("Empty: no lower bound."),
    )
    upper = models.DecimalField(
        _("to (excluded)"),
        max_digits=14,
        decimal_places=4,
        null=True,
        blank=True,
        help_text=_("Empty: no upper bound."),
    )
    category = models.CharField(
        _("category"),
        max_length=64,
        blank=True,
        help_text=_("Categorical characteristics only; empty: any other value."),
    )
    points = models.IntegerField(_("points"))

    class Meta:
        verbose_name = _("scorecard bin")
        verbose_name_plural = _("scorecard bins")
        ordering = ["scorer", "characteristic", "lower", "category"]

    def __str__(self):
        if self.characteristic in CATEGORICAL:
            return f"{self.characteristic} = {self.category or '*'}: {self.points}"
        lower = "" if self.lower is None else self.lower.normalize()
        upper = "" if self.upper is None else self.upper.normalize()
        return f"{self.characteristic} [{lower}, {upper}): {self.points}"


class RiskBand(models.Model):
    """A band and the smallest probability in it (data: A ≥ 0.80, B ≥ 0.60, C ≥ 0.40, D ≥ 0.20, E ≥ 0).
    The same cut-offs band `p_cure` and `p_pay`."""

    code = models.CharField(_("band"), max_length=1, unique=True)
    min_probability = models.DecimalField(_("from probability"), max_digits=3, decimal_places=2, unique=True)

    class Meta:
        verbose_name = _("risk band")
        verbose_name_plural = _("risk bands")
        ordering = ["-min_probability"]
        constraints = [
            models.CheckConstraint(
                condition=Q(min_probability__gte=0) & Q(min_probability__lte=1), name="risk_band_probability_range"
            )
        ]

    def __str__(self):
        return f"{self.code} ≥ {self.min_probability}"


class ScoringRun(models.Model):
    """What a `risk_score` run for a date did. A failed run wrote nothing (the scores of the last good
    run stay in place) and keeps its error here; the dashboard reads the latest run."""

    class Status(models.TextChoices):
        RUNNING = "running", _("running")
        OK = "ok", _("ok")
        FAILED = "failed", _("failed")

    as_of = models.DateField(_("as of"))
    started_at = models.DateTimeField(_("started at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.RUNNING)
    # {"cases": n, "loans": n, "bands_changed": n, "loans_cleared": n, "seconds": s, "cure_model": label, ...}
    counts = models.JSONField(_("counts"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("scoring run")
        verbose_name_plural = _("scoring runs")
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["-started_at", "-id"], name="scoring_run_latest_idx")]

    def __str__(self):
        return f"{self.as_of} {self.status}"
