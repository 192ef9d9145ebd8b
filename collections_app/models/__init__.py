from .api import ApiClient, IdempotencyRecord
from .audit import AuditLog, CaseEvent
from .borrowers import Borrower, BorrowerContact, Hold
from .cases import Case, ContactAttempt, LegalReferral, PromiseToPay, Visit
from .jobs import FileJob
from .labels import CodeLabel
from .loans import Instalment, Loan, Payment, PaymentAllocation
from .messages import OutboundMessage
from .plans import (
    HardshipReason,
    PlanInstalment,
    PlanKind,
    PlanPolicy,
    PlanStatus,
    Proposer,
    RepaymentPlan,
    VulnerabilityCode,
    VulnerabilityMarker,
)
from .queues import Bucket, Queue
from .risk import RiskBand, ScorecardBin, Scorer, ScoringRun
from .strategy import (
    MessageTemplate,
    MonthEndSnapshot,
    ReminderStep,
    Strategy,
    StrategyChoice,
    StrategyRule,
    SweepChunk,
    SweepRun,
)
from .webhooks import WebhookDelivery, WebhookSubscription

__all__ = [
    "ApiClient",
    "AuditLog",
    "Borrower",
    "BorrowerContact",
    "Bucket",
    "Case",
    "CaseEvent",
    "CodeLabel",
    "ContactAttempt",
    "FileJob",
    "HardshipReason",
    "Hold",
    "IdempotencyRecord",
    "Instalment",
    "LegalReferral",
    "Loan",
    "MessageTemplate",
    "MonthEndSnapshot",
    "OutboundMessage",
    "Payment",
    "PaymentAllocation",
    "PlanInstalment",
    "PlanKind",
    "PlanPolicy",
    "PlanStatus",
    "Proposer",
    "PromiseToPay",
    "Queue",
    "ReminderStep",
    "RiskBand",
    "ScorecardBin",
    "Scorer",
    "ScoringRun",
    "RepaymentPlan",
    "Strategy",
    "StrategyChoice",
    "StrategyRule",
    "SweepChunk",
    "SweepRun",
    "Visit",
    "VulnerabilityCode",
    "VulnerabilityMarker",
    "WebhookDelivery",
    "WebhookSubscription",
]
