"""What people read for a stored code: one place, both languages.

- Fixed codes (stages, holds, outcomes, reasons, channels of contact, close reasons) have translatable
  labels here (the .po files translate them).
- Codes the loan system or operators define (EDITABLE_KINDS: a loan product, a payment channel, a
  message template) take their label from a CodeLabel row (kind, code, label_en, label_zh_hans) when
  there is one, else from the defaults here, else the code made readable (`cash_loan` → "Cash loan").
- Queues carry their own labels (Queue.label_en, Queue.label_zh_hans; the name when empty), so the pages
  that list queues read them with the queue row, no query more.
- Actor labels (`user:NAME`, `client:NAME`, `borrower:ID`, `system`) read as people say them (`actor`).

Templates use the `collections_labels` library: `{{ loan.product|label:"product" }}`, `{{ event.actor|actor }}`.
CodeLabel rows are read once and kept in the process for LABELS_TTL_SECONDS (a change is seen at once
in this process, within the TTL in others); only EDITABLE_KINDS look at them, so a page that shows only
fixed codes asks the database nothing.
"""

from time import monotonic

from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .errors import REASONS
from .models import (
    ContactAttempt,
    HardshipReason,
    Hold,
    PlanKind,
    PlanStatus,
    PromiseToPay,
    Proposer,
    Visit,
    VulnerabilityCode,
)
from .models.messages import OutboundMessage
from .models.strategy import ReminderStep
from .workflow import TRANSITION_LABELS, CloseReason, State

EDITABLE_KINDS = ("product", "channel", "template")

_DEFAULTS = {
    # Loan products of the demo book and common ones; the loan system may send others (CodeLabel).
    "product": {
        "consumer": gettext_lazy("Consumer loan"),
        "cash_loan": gettext_lazy("Cash loan"),
        "phone_instalment": gettext_lazy("Phone instalments"),
        "education": gettext_lazy("Education loan"),
    },
    # Payment channels.
    "channel": {
        "bank_transfer": gettext_lazy("Bank transfer"),
        "alipay": gettext_lazy("Alipay"),
        "wechat_pay": gettext_lazy("WeChat Pay"),
        "unionpay": gettext_lazy("UnionPay"),
        "cash": gettext_lazy("Cash"),
        "card": gettext_lazy("Card"),
    },
    # Message templates (MessageTemplate.code).
    "template": {
        "pre_due": gettext_lazy("Reminder before the due date"),
        "pre_due_early": gettext_lazy("Early reminder before the due date"),
        "overdue": gettext_lazy("Overdue reminder"),
        "overdue_firm": gettext_lazy("Firm overdue reminder"),
        "plan_confirmation": gettext_lazy("Repayment plan confirmation"),
    },
    # Fields of a borrower or loan named by events (personal data revealed, details updated).
    "field": {
        "name": gettext_lazy("Name"),
        "national_id": gettext_lazy("National id"),
        "phones": gettext_lazy("Phones"),
        "email": gettext_lazy("E-mail"),
        "address": gettext_lazy("Address"),
        "city": gettext_lazy("City"),
        "time_zone": gettext_lazy("Time zone"),
        "language": gettext_lazy("Language"),
        "contacts": gettext_lazy("Contact persons"),
        "vulnerability_note": gettext_lazy("Vulnerability note"),
    },
    "state": dict(State.choices),
    "transition": TRANSITION_LABELS,
    "close_reason": dict(CloseReason.choices),
    "hold": dict(Hold.Code.choices),
    "hold_source": dict(Hold.Source.choices),
    "contact_channel": dict(ContactAttempt.Channel.choices),
    "direction": dict(ContactAttempt.Direction.choices),
    "outcome": dict(ContactAttempt.Outcome.choices),
    "visit_outcome": dict(Visit.Outcome.choices),
    "message_channel": dict(ReminderStep.Channel.choices),
    "message_status": dict(OutboundMessage.Status.choices),
    "reason": {code: message for code, (_status, message) in REASONS.items()},
    "plan_kind": dict(PlanKind.choices),
    "plan_status": dict(PlanStatus.choices),
    "hardship": dict(HardshipReason.choices),
    "proposer": dict(Proposer.choices),
    "vulnerability": dict(VulnerabilityCode.choices),
    "promise_status": dict(PromiseToPay.Status.choices),
    # Risk reason codes (models.risk.REASON_CODES): why a case or loan is in its band, in plain words.
    "risk_reason": {
        "high_dpd": gettext_lazy("Many days past due"),
        "broken_promises": gettext_lazy("Broke promises to pay"),
        "low_paid_share": gettext_lazy("Little of the loan repaid so far"),
        "no_recent_payment": gettext_lazy("No recent payment"),
        "no_contact_14d": gettext_lazy("No recent conversation with the borrower"),
        "new_loan": gettext_lazy("The loan is new"),
        "many_loans": gettext_lazy("Has several loans"),
        "risky_product": gettext_lazy("A product that falls behind more often"),
        "high_amount_overdue": gettext_lazy("Large amount overdue"),
        "no_past_cures": gettext_lazy("Never brought an earlier case back to date"),
        "past_arrears": gettext_lazy("Was in arrears before"),
    },
}
KINDS = (*_DEFAULTS, "event")

LABELS_TTL_SECONDS = 30.0
_cache = {}


def labels_forget(**_kwargs):
    """Forget the CodeLabel and queue rows kept in this process (on save or delete of one; tests)."""
    _cache.clear()
    _translated.clear()


def _overrides():
    now = monotonic()
    if _cache.get("until", 0) > now:
        return _cache["rows"]
    from .models import CodeLabel

    rows = {(row.kind, row.code): row for row in CodeLabel.objects.filter(kind__in=EDITABLE_KINDS)}
    _cache.update(rows=rows, until=now + LABELS_TTL_SECONDS)
    return rows


def _queues_by_name():
    now = monotonic()
    if _cache.get("queues_until", 0) > now:
        return _cache["queues"]
    from .models import Queue

    rows = {q.name: q for q in Queue.objects.only("name", "label_en", "label_zh_hans")}
    _cache.update(queues=rows, queues_until=now + LABELS_TTL_SECONDS)
    return rows


# The fixed labels as translated, by (language, kind, code): a list of 200 rows asked gettext for
# each of its labels again (a tenth of /approvals/' time). Bounded by the fixed tables' size.
_translated = {}


def _zh():
    return (get_language() or "").lower().startswith("zh")


def readable(code):
    """A code as words, for a code nobody labelled yet: `cash_loan` → "Cash loan"."""
    text = str(code).replace("_", " ").replace("-", " ").strip()
    return text[:1].upper() + text[1:] if text else ""


def label(kind, code):
    """What people read for `code` of `kind`, in the active language."""
    if code is None or code == "":
        return ""
    code = str(code)
    if kind in EDITABLE_KINDS:
        row = _overrides().get((kind, code))
        if row is not None:
            text = (row.label_zh_hans if _zh() else row.label_en) or row.label_en or row.label_zh_hans
            if text:
                return text
    if kind == "queue":  # a queue by its name (as events store it)
        queue = _queues_by_name().get(code)
        return queue_label(queue) if queue is not None else code
    key = (get_language(), kind, code)
    text = _translated.get(key)
    if text is None:
        if kind == "event":
            from .events import KINDS  # the event-kind registry (it reads labels: imported here)

            known = KINDS[code].label if code in KINDS else None
        else:
            known = _DEFAULTS.get(kind, {}).get(code)
        if known is None:
            return readable(code)
        text = _translated[key] = str(known)
    return text


def queue_label(queue):
    """A queue as people read it: its label in the active language, else its name."""
    if queue is None:
        return ""
    if _zh():
        return queue.label_zh_hans or queue.label_en or queue.name
    return queue.label_en or queue.name


def actor_label(text):
    """`user:NAME` → NAME; `client:NAME` → "API client NAME"; `borrower:ID` → "Borrower ID (self-service)";
    `system` → "System"; anything else as it is."""
    if not text:
        return ""
    text = str(text)
    if text == "system":
        return _("System")
    kind, _sep, name = text.partition(":")
    if not _sep:
        return text
    if kind == "user":
        return name
    if kind == "client":
        return _("API client %(name)s") % {"name": name}
    if kind == "borrower":
        return _("Borrower %(id)s (self-service)") % {"id": name}
    return text
