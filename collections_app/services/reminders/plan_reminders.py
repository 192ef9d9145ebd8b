"""Reminders that follow a repayment plan's dates (CONTRACT.md, "Repayment plans and settlements"):
while a plan is active its case gets an SMS 3 days before each plan instalment (`plan_pre_due`) and
one the day after an instalment is missed (`plan_missed`), instead of the strategy's steps; and the
`care` variant of every reminder for a borrower with an active vulnerability marker. Same outbox,
idempotency keys and compliance rules as the strategy's reminders (planner.py)."""

from datetime import time, timedelta

from django.db.models import Exists, OuterRef

from ...models import MessageTemplate, PlanInstalment, PlanStatus, RepaymentPlan, Strategy

PRE_DUE_DAYS = 3
DEFAULT_SEND_AT = time(10)  # Strategy.send_at's default, for a portfolio without a default strategy
PLAN_PRE_DUE, PLAN_MISSED = "plan_pre_due", "plan_missed"
CARE_SUFFIX = "_care"
KEY_PREFIX = "planinst:"  # planinst:<plan instalment id>:<template code without _care>


def on_active_plan(loan_field="loan_id"):
    """An Exists() for querysets with a loan: that loan's case has an active plan."""
    return Exists(RepaymentPlan.objects.filter(case__loan_id=OuterRef(loan_field), status=PlanStatus.ACTIVE))


class CareTemplates:
    """Which codes have a `care` variant (looked up once per planning or dispatching run)."""

    def __init__(self):
        self.codes = set(
            MessageTemplate.objects.filter(code__endswith=CARE_SUFFIX).values_list("code", "channel").distinct()
        )

    def code_for(self, code, channel, vulnerable):
        if not vulnerable or code.endswith(CARE_SUFFIX):
            return code
        care = code + CARE_SUFFIX
        return care if (care, channel) in self.codes else code


def vulnerable_borrowers(borrower_ids):
    from ...models import VulnerabilityMarker

    return set(
        VulnerabilityMarker.objects.active().filter(borrower_id__in=borrower_ids).values_list("borrower_id", flat=True)
    )


def plan_instalment_id(message):
    """The id of the plan instalment a plan reminder is about (None for any other message)."""
    key = message.idempotency_key or ""
    if not key.startswith(KEY_PREFIX):
        return None
    try:
        return int(key.split(":")[1])
    except (IndexError, ValueError):
        return None


def plan_instalments_of(messages):
    """{message id: its plan instalment} for a batch, in one query."""
    ids = {m.pk: plan_instalment_id(m) for m in messages}
    found = PlanInstalment.objects.select_related("plan").in_bulk({i for i in ids.values() if i is not None})
    return {message_id: found[i] for message_id, i in ids.items() if i is not None and i in found}


def plan_reminders_plan(*, as_of, now, result):
    """Write the day's plan reminders to the outbox: `plan_pre_due` for unmet instalments of active
    plans due in PRE_DUE_DAYS days, `plan_missed` for those due yesterday and still unmet."""
    from .planner import _active_holds_by_borrower, _policy_for, planned_message, planned_messages_write

    strategies = {s.product: s for s in Strategy.objects.all()}
    care = CareTemplates()
    for code, due_day in (
        (PLAN_PRE_DUE, as_of + timedelta(days=PRE_DUE_DAYS)),
        (PLAN_MISSED, as_of - timedelta(days=1)),
    ):
        rows = list(
            PlanInstalment.objects.filter(due_date=due_day, met=False, plan__status=PlanStatus.ACTIVE)
            .values(
                "id",
                "plan__case_id",
                "plan__case__loan_id",
                "plan__case__loan__product",
                "plan__case__borrower_id",
                "plan__case__borrower__phones",
                "plan__case__borrower__time_zone",
                "plan__case__borrower__consent_after_hours",
                "plan__case__borrower__consent_sms",
                "plan__case__borrower__consent_email",
            )
            .order_by("id")
        )
        if not rows:
            continue
        borrower_ids = {r["plan__case__borrower_id"] for r in rows}
        holds = _active_holds_by_borrower(borrower_ids, now)
        vulnerable = vulnerable_borrowers(borrower_ids)
        messages = []
        for row in rows:
            b = {k.replace("plan__case__", ""): v for k, v in row.items()}
            address = (b["borrower__phones"] or [""])[0]
            if not address:
                result.skipped += 1
                continue
            strategy = strategies.get(b["loan__product"]) or strategies.get("")
            messages.append(
                planned_message(
                    b,
                    holds=holds,
                    policy=_policy_for(strategy),
                    as_of=as_of,
                    send_at=strategy.send_at if strategy else DEFAULT_SEND_AT,
                    now=now,
                    idempotency_key=f"{KEY_PREFIX}{row['id']}:{code}",
                    loan_id=b["loan_id"],
                    case_id=row["plan__case_id"],
                    channel="sms",
                    template_code=care.code_for(code, "sms", b["borrower_id"] in vulnerable),
                    to_address=address,
                )
            )
        planned_messages_write(messages, now, result)
