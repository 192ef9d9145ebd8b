"""The six roles of CONTRACT.md, as Django groups, and the scopes an API client may hold."""

COLLECTOR = "collector"
FIELD_AGENT = "field_agent"
SUPERVISOR = "supervisor"
LEGAL_OFFICER = "legal_officer"
AUDITOR = "auditor"
ADMIN = "admin"

ALL_ROLES = (COLLECTOR, FIELD_AGENT, SUPERVISOR, LEGAL_OFFICER, AUDITOR, ADMIN)
# What each role may do, and which cases it sees, is permissions.py's (ABILITIES, visible_cases).

SCOPE_CASES_READ = "cases:read"
SCOPE_CASES_WRITE = "cases:write"
SCOPE_CASES_MANAGE = "cases:manage"
SCOPE_PAYMENTS_WRITE = "payments:write"
SCOPE_LOANS_WRITE = "loans:write"
SCOPE_PII_READ = "pii:read"
SCOPE_WEBHOOKS_MANAGE = "webhooks:manage"
SCOPE_PLANS_DECIDE = "plans:decide"
ALL_SCOPES = (
    SCOPE_CASES_READ,
    SCOPE_CASES_WRITE,
    SCOPE_CASES_MANAGE,
    SCOPE_PAYMENTS_WRITE,
    SCOPE_LOANS_WRITE,
    SCOPE_PII_READ,
    SCOPE_WEBHOOKS_MANAGE,
    SCOPE_PLANS_DECIDE,
)
