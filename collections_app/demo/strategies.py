"""A champion/challenger test for the demo, so the "Strategy tests" page has one running on a fresh
`make run`: a rules-only strategy that starts calls earlier, challenging the default on 20 % of the
cases it is chosen for (the first nightly scoring chooses; docs/strategies.md). Idempotent."""

from ..models import Strategy

CHALLENGER_NAME = "Early calls"
CHALLENGER_SHARE = 20


def ensure_demo_strategy_test():
    default = Strategy.objects.filter(product="").first()
    if default is None or default.challenger_id:
        return None
    challenger, created = Strategy.objects.get_or_create(
        name=CHALLENGER_NAME,
        product=None,
        defaults={
            "call_at_dpd": max(1, default.call_at_dpd - 3),
            "visit_at_dpd": default.visit_at_dpd,
            "legal_at_dpd": default.legal_at_dpd,
            "contact_policy": default.contact_policy,
            "send_at": default.send_at,
        },
    )
    if created:
        for step in default.steps.all():
            challenger.steps.create(
                offset_days=step.offset_days,
                channel=step.channel,
                template_code=step.template_code,
                only_pay_bands=step.only_pay_bands,
            )
    Strategy.objects.filter(pk=default.pk).update(challenger=challenger, challenger_share=CHALLENGER_SHARE)
    return challenger
