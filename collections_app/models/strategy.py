from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..compliance import PRESETS


class Strategy(models.Model):
    """How a loan product is collected: the days past due at which each stage starts, the contact
    policy, and the reminder plan (its steps). Products without their own use the default
    (`product` empty)."""

    product = models.CharField(
        _("product"),
        max_length=64,
        blank=True,
        unique=True,
        help_text=_("Empty: the default for products without a strategy of their own."),
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
            )
        ]

    def __str__(self):
        return self.name

    def clean(self):
        if not (1 <= self.call_at_dpd < self.visit_at_dpd < self.legal_at_dpd):
            raise ValidationError({"visit_at_dpd": _("Thresholds must increase: calls < visits < legal review.")})

    @property
    def thresholds(self):
        from ..strategy import StageThresholds

        return StageThresholds(call=self.call_at_dpd, visit=self.visit_at_dpd, legal=self.legal_at_dpd)


class ReminderStep(models.Model):
    """One message of a strategy's reminder plan, `offset_days` from an instalment's due date
    (negative: before it falls due)."""

    class Channel(models.TextChoices):
        SMS = "sms", _("SMS")
        EMAIL = "email", _("E-mail")

    strategy = models.ForeignKey(Strategy, on_delete=models.CASCADE, related_name="steps")
    offset_days = models.IntegerField(_("days from due date"))
    channel = models.CharField(_("channel"), max_length=10, choices=Channel.choices)
    template_code = models.CharField(_("template"), max_length=50)

    class Meta:
        verbose_name = _("reminder step")
        verbose_name_plural = _("reminder steps")
        ordering = ["strategy", "offset_days", "channel"]
        constraints = [
            models.UniqueConstraint(fields=["strategy", "offset_days", "channel"], name="reminder_step_unique")
        ]

    def __str__(self):
        return f"{self.strategy} {self.offset_days:+d}d {self.channel}"


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
