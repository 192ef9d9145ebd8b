"""The one domain error every service raises when it refuses, with a stable reason code.

Each door maps it: pages show the message, the API answers the status and body of CONTRACT.md,
tasks log a line.
"""

from django.utils.translation import gettext_lazy as _

# Reason code -> (HTTP status, message for people). The codes are CONTRACT.md's.
REASONS = {
    "transition_not_allowed": (409, _("This action is not allowed for the case in its current state.")),
    "stale_version": (409, _("The case changed since you loaded it; reload and try again.")),
    "permission_denied": (403, _("You do not have permission to do this.")),
    "not_found": (404, _("Not found.")),
    "validation_error": (400, _("Some fields are not valid.")),
    "outside_contact_hours": (422, _("It is outside the borrower's permitted contact hours.")),
    "daily_call_cap": (422, _("The daily limit of connected calls for this borrower is reached.")),
    "daily_dial_cap": (422, _("The daily limit of dial attempts to this number is reached.")),
    "seven_in_seven": (422, _("Seven call attempts in seven days is the limit for this debt.")),
    "seven_days_after_conversation": (
        422,
        _("No call within seven days after a telephone conversation about this debt."),
    ),
    "case_on_hold": (409, _("The borrower has an active hold; escalation and contact are stopped.")),
    "channel_opted_out": (422, _("The borrower opted out of this channel.")),
    "third_party_not_allowed": (422, _("Contacting third parties is not allowed for this case now.")),
    "visit_needs_two_agents": (422, _("A home visit needs at least two field agents.")),
    "idempotency_conflict": (409, _("This idempotency key was used with a different request.")),
    "not_authenticated": (401, _("Authentication credentials were not provided.")),
    "method_not_allowed": (405, _("Method not allowed.")),
    "unsupported_media_type": (415, _("Unsupported media type.")),
    "throttled": (429, _("Too many requests; slow down.")),
    "plan_exists": (409, _("The case already has an open repayment plan.")),
    "plan_outside_policy": (422, _("The plan is outside every authority of the plan policy.")),
    "plan_not_pending": (409, _("The plan is not waiting for a decision.")),
}


class DomainError(Exception):
    """A refusal: `code` is stable for machines, `message` is for people.

    `fields` maps a field name to its messages; `extra` carries what a refusal adds to its answer
    (`allowed_transitions`, `next_allowed_at`).
    """

    def __init__(self, code, message=None, *, fields=None, **extra):
        if code not in REASONS:
            raise ValueError(f"unknown reason code {code!r}")
        self.code = code
        self.message = message if message is not None else REASONS[code][1]
        self.fields = fields or {}
        self.extra = extra
        super().__init__(f"{code}: {self.message}")

    @property
    def http_status(self):
        return REASONS[self.code][0]

    def as_dict(self):
        body = {
            "code": self.code,
            "detail": str(self.message),
            "fields": {name: [str(m) for m in msgs] for name, msgs in self.fields.items()},
        }
        body.update(self.extra)
        return body


def invalid(field, message):
    """A validation refusal naming one field."""
    return DomainError("validation_error", fields={field: [message]})
