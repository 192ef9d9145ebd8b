import hashlib
import hmac

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .fields import ACTOR_LABEL


def hash_key(secret):
    # Tokens are 32 random bytes: a plain SHA-256 is enough (no dictionary to attack).
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiClient(models.Model):
    """A named integration (loan system, dialler, BI) with a token and scopes. Only the token's
    hash is stored; the token is shown once, when created or rotated."""

    name = models.SlugField(_("name"), max_length=80, unique=True)
    key_prefix = models.CharField(max_length=12, unique=True)
    key_hash = models.CharField(max_length=64)
    scopes = models.JSONField(_("scopes"), default=list)
    is_active = models.BooleanField(_("active"), default=True)
    rate_per_minute = models.PositiveIntegerField(_("requests per minute"), default=600)
    created_at = models.DateTimeField(default=timezone.now)
    rotated_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("API client")
        verbose_name_plural = _("API clients")
        ordering = ["name"]

    def __str__(self):
        return self.name

    def key_matches(self, secret):
        return hmac.compare_digest(self.key_hash, hash_key(secret))


class IdempotencyRecord(models.Model):
    """The answer given to a POST with an Idempotency-Key, per client or user, kept 24 hours."""

    owner = models.CharField(**ACTOR_LABEL)
    key = models.CharField(max_length=200)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    body = models.JSONField(null=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["owner", "key"], name="idempotency_owner_key")]
