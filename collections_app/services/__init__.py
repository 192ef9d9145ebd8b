"""The only code that writes. Pages, the API, tasks and commands all call these."""

from .cases import case_assign, case_open_for_loan, case_sync_with_loan, case_transition, cases_sync_with_loans
from .contacts import contact_check, contact_log, note_add, promise_record, visit_record, visit_schedule
from .holds import hold_lift, hold_place, holds_set_from_loan_system
from .legal import legal_referral_decide, legal_referral_request
from .payments import payment_record, payment_reverse
from .pii import pii_reveal

__all__ = [
    "case_assign",
    "case_open_for_loan",
    "case_sync_with_loan",
    "case_transition",
    "cases_sync_with_loans",
    "contact_check",
    "contact_log",
    "hold_lift",
    "hold_place",
    "holds_set_from_loan_system",
    "legal_referral_decide",
    "legal_referral_request",
    "note_add",
    "payment_record",
    "payment_reverse",
    "pii_reveal",
    "promise_record",
    "visit_record",
    "visit_schedule",
]
