from .audit import AuditLog, CaseEvent
from .borrowers import Borrower, BorrowerContact, Hold
from .cases import Case, ContactAttempt, LegalReferral, PromiseToPay, Visit
from .loans import Instalment, Loan, Payment, PaymentAllocation
from .queues import Bucket, Queue

__all__ = [
    "AuditLog", "Borrower", "BorrowerContact", "Bucket", "Case", "CaseEvent", "ContactAttempt", "Hold",
    "Instalment", "LegalReferral", "Loan", "Payment", "PaymentAllocation", "PromiseToPay", "Queue", "Visit",
]
