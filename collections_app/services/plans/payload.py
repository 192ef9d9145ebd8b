"""What a plan's events carry (the timeline's sentence and the plan webhooks read it). No personal
data: the hardship reason and notes stay on the plan, shown only to whom may see them."""


def plan_payload(plan, schedule=None, **extra):
    if schedule is None:
        schedule = [(i.due_date, i.amount) for i in plan.instalments.all()]
    payload = {
        "plan_id": plan.pk,
        "kind": plan.kind,
        "status": plan.status,
        "total": f"{plan.total:.2f}",
        "discount": f"{plan.discount:.2f}",
        "instalments": len(schedule),
        "first_due_date": schedule[0][0].isoformat() if schedule else None,
        "last_due_date": schedule[-1][0].isoformat() if schedule else None,
    }
    payload.update(extra)
    return payload
