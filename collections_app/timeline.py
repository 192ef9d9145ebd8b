"""How timeline events read to people: a translated title and a one-line detail per kind."""
from django.utils.translation import gettext_lazy as _

from .errors import REASONS
from .labels import label
from .models import ContactAttempt
from .workflow import TRANSITION_LABELS, State

KIND_LABELS = {
    "opened": _("Case opened"),
    "transition": _("Stage changed"),
    "amounts_changed": _("Amount overdue changed"),
    "assigned": _("Assigned"),
    "contact_logged": _("Contact"),
    "promise_recorded": _("Promise to pay"),
    "promise_kept": _("Promise kept"),
    "promise_broken": _("Promise broken"),
    "payment_recorded": _("Payment"),
    "payment_reversed": _("Payment reversed"),
    "hold_placed": _("Hold placed"),
    "hold_lifted": _("Hold lifted"),
    "legal_referral_requested": _("Legal referral requested"),
    "legal_referral_approved": _("Legal referral approved"),
    "legal_referral_rejected": _("Legal referral rejected"),
    "visit_scheduled": _("Visit planned"),
    "visit_recorded": _("Visit recorded"),
    "note_added": _("Note"),
    "pii_revealed": _("Personal data revealed"),
    "borrower_updated": _("Borrower details updated"),
    "loan_updated": _("Loan updated"),
    "message_requested": _("Message requested"),
    "message_sent": _("Message sent"),
    "message_failed": _("Message failed"),
    "message_suppressed": _("Message not sent"),
}
_OUTCOMES = dict(ContactAttempt.Outcome.choices)
_CHANNELS = dict(ContactAttempt.Channel.choices)
_STATES = dict(State.choices)


def _state(value):
    return str(_STATES.get(value, value or "—"))


def describe(event):
    """(title, detail) for one CaseEvent."""
    p = event.payload or {}
    title = str(KIND_LABELS.get(event.kind, event.kind))
    kind = event.kind
    if kind == "transition":
        name = p.get("transition", "")
        title = f"{TRANSITION_LABELS.get(name, name)}: {_state(event.from_state)} → {_state(event.to_state)}"
        detail = event.reason
        if name == "close":  # the reason of a close is a code (settled, written_off), the note free text
            detail = label("close_reason", event.reason) + (f" — {p['note']}" if p.get("note") else "")
    elif kind == "opened":
        detail = f"{_state(event.to_state)} · DPD {p.get('dpd', '')} · {p.get('amount_overdue', '')}"
    elif kind == "contact_logged":
        detail = f"{_CHANNELS.get(p.get('channel'), p.get('channel'))} · {_OUTCOMES.get(p.get('outcome'), p.get('outcome'))}"
        if p.get("breach"):
            detail += f" · ⚠ {REASONS.get(p['breach'], (0, p['breach']))[1]}"
        if event.reason:
            detail += f" — {event.reason}"
    elif kind in ("promise_recorded", "promise_kept", "promise_broken"):
        detail = " · ".join(x for x in (p.get("amount", ""), p.get("due_date", "")) if x)
    elif kind in ("payment_recorded", "payment_reversed"):
        parts = (p.get("amount", ""), label("channel", p.get("channel")), p.get("external_id", ""))
        detail = " · ".join(x for x in parts if x)
        detail += f" — {event.reason}" if event.reason else ""
    elif kind == "assigned":
        detail = f"{p.get('from_user') or '—'} → {p.get('to_user') or '—'}"
        if p.get("from_queue") != p.get("to_queue"):
            detail += f" · {label('queue', p.get('from_queue')) or '—'} → {label('queue', p.get('to_queue')) or '—'}"
    elif kind in ("hold_placed", "hold_lifted"):
        detail = label("hold", p.get("code", "")) + (f" — {event.reason}" if event.reason else "")
    elif kind == "amounts_changed":
        detail = f"{p.get('amount_overdue_before', '')} → {p.get('amount_overdue', '')}"
    elif kind == "visit_scheduled":
        detail = ", ".join(p.get("agents", []))
    elif kind in ("message_sent", "message_failed", "message_suppressed", "message_requested"):
        reason = p.get("reason")
        reason = str(REASONS[reason][1]) if reason in REASONS else reason
        parts = (label("message_channel", p.get("channel")), label("template", p.get("template")), reason)
        detail = " · ".join(str(x) for x in parts if x)
    elif kind in ("borrower_updated", "loan_updated"):
        detail = ", ".join(label("field", f) for f in p.get("fields", []))
    elif kind == "pii_revealed":
        detail = ", ".join(label("field", f) for f in p.get("fields", []))
        detail += f" — {event.reason}" if event.reason else ""
    else:
        detail = event.reason
    return title, detail
