from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .fields import ACTOR_LABEL, ACTOR_USER


class Borrower(models.Model):
    class Language(models.TextChoices):
        ZH_HANS = "zh-hans", _("Simplified Chinese")
        EN = "en", _("English")

    external_id = models.CharField(_("external id"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    national_id = models.CharField(_("national id"), max_length=32, blank=True)
    phones = models.JSONField(_("phones"), default=list, blank=True)
    email = models.EmailField(_("e-mail"), blank=True)
    address = models.CharField(_("address"), max_length=400, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    # IANA name; the borrower's local time decides contact windows.
    time_zone = models.CharField(_("time zone"), max_length=64, default="Asia/Shanghai")
    language = models.CharField(_("language"), max_length=8, choices=Language.choices, default=Language.ZH_HANS)
    consent_after_hours = models.BooleanField(_("agreed to contact outside normal hours"), default=False)
    consent_sms = models.BooleanField(_("SMS allowed"), default=True)
    consent_email = models.BooleanField(_("e-mail allowed"), default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("borrower")
        verbose_name_plural = _("borrowers")

    def __str__(self):
        return self.external_id

    @property
    def primary_phone(self):
        return self.phones[0] if self.phones else ""


class BorrowerContact(models.Model):
    """A contact person: reachable only when the borrower is not, and never told of the debt."""

    borrower = models.ForeignKey(Borrower, on_delete=models.CASCADE, related_name="contacts")
    name = models.CharField(_("name"), max_length=200)
    relation = models.CharField(_("relation"), max_length=50, blank=True)
    phone = models.CharField(_("phone"), max_length=32, blank=True)

    class Meta:
        verbose_name = _("contact person")
        verbose_name_plural = _("contact persons")

    def __str__(self):
        # Masked: a contact person's name is personal data wherever a row prints itself (the admin).
        from ..masking import mask_name

        return f"{mask_name(self.name)} ({self.relation})"


class HoldQuerySet(models.QuerySet):
    def active(self, at=None):
        at = at or timezone.now()
        return self.filter(lifted_at__isnull=True, starts_at__lte=at).filter(
            Q(ends_at__isnull=True) | Q(ends_at__gt=at)
        )


class Hold(models.Model):
    """A borrower-level stop on contact and escalation, with its history kept (lifting sets lifted_at)."""

    class Code(models.TextChoices):
        DISPUTE = "dispute", _("Dispute")
        COMPLAINT = "complaint", _("Complaint")
        CEASE_CONTACT = "cease_contact", _("Cease contact")
        BANKRUPTCY = "bankruptcy", _("Bankruptcy")
        DECEASED = "deceased", _("Deceased")

    class Source(models.TextChoices):
        LOAN_SYSTEM = "loan_system", _("Loan system")
        STAFF = "staff", _("Staff")

    borrower = models.ForeignKey(Borrower, on_delete=models.CASCADE, related_name="holds")
    code = models.CharField(_("code"), max_length=20, choices=Code.choices)
    reason = models.TextField(_("reason"), blank=True)
    starts_at = models.DateTimeField(_("starts at"), default=timezone.now)
    ends_at = models.DateTimeField(_("ends at"), null=True, blank=True)
    source = models.CharField(_("source"), max_length=20, choices=Source.choices, default=Source.STAFF)
    placed_by = models.ForeignKey(**ACTOR_USER)
    placed_by_label = models.CharField(**ACTOR_LABEL)
    placed_at = models.DateTimeField(default=timezone.now)
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by_label = models.CharField(blank=True, **ACTOR_LABEL)
    lift_reason = models.TextField(blank=True)

    objects = HoldQuerySet.as_manager()

    class Meta:
        verbose_name = _("hold")
        verbose_name_plural = _("holds")
        indexes = [models.Index(fields=["borrower", "lifted_at"], name="hold_borrower_lifted_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__isnull=True) | Q(ends_at__gt=models.F("starts_at")),
                name="hold_ends_after_start",
            )
        ]

    def __str__(self):
        return f"{self.borrower_id}:{self.code}"

    def is_active(self, at=None):
        at = at or timezone.now()
        return self.lifted_at is None and self.starts_at <= at and (self.ends_at is None or self.ends_at > at)
