"""Issue 12, the early warning (CONTRACT.md "Risk and strategy"): a loan due in 7 days whose p_pay band
is D or E gets `pre_due_early` 7 days before the due date besides the usual `pre_due`; other bands and
unscored loans do not; compliance, keys and reruns as for every strategy step; the step's band letters
are validated in the admin; the texts render in both languages (and the care variant)."""

from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils import timezone

from collections_app import services
from collections_app.calendar import lender_today
from collections_app.models import (
    Instalment,
    Loan,
    MessageTemplate,
    OutboundMessage,
    ReminderStep,
    Scorer,
    Strategy,
    VulnerabilityMarker,
)
from collections_app.services.reminders import reminders_dispatch, reminders_plan
from collections_app.services.risk.score import risk_score
from collections_app.tasks.risk import risk_score_task

from .factories import BorrowerFactory, LoanFactory, admin_inline_rows, loan_with_schedule

pytestmark = pytest.mark.django_db

P_PAY = {"A": "0.90", "B": "0.70", "C": "0.50", "D": "0.30", "E": "0.10"}


@pytest.fixture
def as_of():
    """A future planning date: reminders are planned for 10:00 borrower time that day."""
    return lender_today() + timedelta(days=10)


def night_of(day):
    """When the nightly chain of `day` scores (01:30 in the lender's calendar)."""
    return datetime.combine(day, time(1, 30), tzinfo=settings.LENDER_TIME_ZONE)


def due_in(days, as_of, *, band="", scored_on=None, **kwargs):
    """A loan whose one instalment falls due `days` days after `as_of`, scored in `band` ("": never)
    as the nightly risk_score of `scored_on` (default `as_of`) writes it (test_risk_scoring.py tests
    the scorer itself)."""
    loan = loan_with_schedule(days_overdue=-days - (as_of - lender_today()).days, instalments=1, **kwargs)
    if band:
        Loan.objects.filter(pk=loan.pk).update(
            p_pay=P_PAY[band], pay_band=band, pay_model="default-pay-1", pay_scored_at=night_of(scored_on or as_of)
        )
    return loan


def planned(loan):
    return sorted(OutboundMessage.objects.filter(loan=loan).values_list("template_code", flat=True))


def early_step():
    return ReminderStep.objects.get(strategy__product="", template_code="pre_due_early")


def make_due():
    OutboundMessage.objects.filter(status="queued").update(not_before=timezone.now() - timedelta(minutes=1))


# --- the default strategy's step and texts (migration 0025) -----------------------------------------


def test_the_default_strategy_has_the_early_sms_at_minus_7_days_for_bands_d_and_e():
    step = early_step()
    assert (step.offset_days, step.channel, step.only_pay_bands, step.pay_bands) == (-7, "sms", "DE", ["D", "E"])
    pre_due = ReminderStep.objects.get(strategy__product="", template_code="pre_due")
    assert pre_due.only_pay_bands == "" and pre_due.pay_bands is None  # every loan, as before
    for code in ("pre_due_early", "pre_due_early_care"):
        languages = set(MessageTemplate.objects.filter(code=code, channel="sms").values_list("language", flat=True))
        assert languages == {"zh-hans", "en"}, code


# --- the planner ------------------------------------------------------------------------------------


@pytest.mark.parametrize("band", ["D", "E"])
def test_a_d_or_e_band_loan_due_in_7_days_gets_the_early_reminder_and_later_the_usual_one(as_of, band):
    loan = due_in(7, as_of, band=band)

    result = reminders_plan(as_of=as_of)

    assert planned(loan) == ["pre_due_early"]
    assert result.queued == 1
    message = OutboundMessage.objects.get(loan=loan)
    instalment = Instalment.objects.get(loan=loan)
    assert message.status == "queued" and message.channel == "sms" and message.step == early_step()
    assert message.idempotency_key == f"plan:{loan.pk}:{instalment.pk}:{early_step().pk}"
    assert (instalment.due_date - as_of).days == 7

    reminders_plan(as_of=as_of + timedelta(days=4))  # 3 days before the due date

    assert planned(loan) == ["pre_due", "pre_due_early"]


@pytest.mark.parametrize("band", ["", "A", "B", "C"])
def test_a_loan_in_another_band_or_never_scored_gets_only_the_usual_pre_due(as_of, band):
    loan = due_in(7, as_of, band=band)

    assert reminders_plan(as_of=as_of).queued == 0
    reminders_plan(as_of=as_of + timedelta(days=4))

    assert planned(loan) == ["pre_due"]


def test_only_the_loans_due_in_exactly_7_days_get_it(as_of):
    loans = {days: due_in(days, as_of, band="E") for days in (6, 7, 8)}

    reminders_plan(as_of=as_of)

    assert [days for days, loan in loans.items() if planned(loan)] == [7]


def test_a_band_left_by_a_scoring_before_the_instalment_was_due_soon_is_not_read(as_of):
    """Scoring failed (or was off) since: the D was about an earlier instalment, not this one."""
    stale = due_in(7, as_of, band="D", scored_on=as_of - timedelta(days=1))
    tonight = due_in(7, as_of, band="D", scored_on=as_of)

    reminders_plan(as_of=as_of)

    assert (planned(stale), planned(tonight)) == ([], ["pre_due_early"])


def test_a_rerun_plans_nothing_twice(as_of):
    loan = due_in(7, as_of, band="D")
    first = reminders_plan(as_of=as_of)
    before = list(OutboundMessage.objects.values_list("id", "idempotency_key", "status", "updated_at"))

    again = reminders_plan(as_of=as_of)

    assert (first.queued, again.queued, again.suppressed) == (1, 0, 0)
    assert list(OutboundMessage.objects.values_list("id", "idempotency_key", "status", "updated_at")) == before
    assert planned(loan) == ["pre_due_early"]


def test_an_opted_out_or_held_borrower_gets_no_early_reminder(as_of, supervisor):
    opted_out = due_in(7, as_of, band="D", borrower=BorrowerFactory(consent_sms=False, consent_after_hours=True))
    held = due_in(7, as_of, band="E", borrower=BorrowerFactory(consent_after_hours=True))
    services.hold_place(borrower_id=held.borrower_id, code="complaint", actor=supervisor, reason="complained")

    result = reminders_plan(as_of=as_of)
    make_due()
    reminders_dispatch()

    assert (result.queued, result.suppressed) == (0, 2)
    assert {(m.loan_id, m.template_code, m.status, m.reason) for m in OutboundMessage.objects.all()} == {
        (opted_out.pk, "pre_due_early", "suppressed", "channel_opted_out"),
        (held.pk, "pre_due_early", "suppressed", "case_on_hold"),
    }
    assert not OutboundMessage.objects.filter(sent_at__isnull=False).exists()


def test_a_borrower_with_a_vulnerability_marker_gets_the_care_text(as_of):
    loan = due_in(7, as_of, band="D")
    VulnerabilityMarker.objects.create(
        borrower_id=loan.borrower_id, code="elderly", set_by="user:supervisor", review_on=as_of + timedelta(days=60)
    )

    reminders_plan(as_of=as_of)

    assert planned(loan) == ["pre_due_early_care"]


def test_nightly_scoring_covers_the_loans_due_in_7_days_and_the_chain_plans_their_early_reminder():
    """risk_score's due-soon window is D to D+7 inclusive, so a loan 7 days from its due date is scored
    the night its early reminder is planned (the chain: risk_score_task, then reminders_plan_task)."""
    today = lender_today()
    # Scorecard odds so low that every due-soon loan lands in band E.
    Scorer.objects.filter(target="pay", active=True).update(base_odds=Decimal("0.0001"))
    loans = {}
    for days in (7, 8):
        loan = LoanFactory(disbursed_on=today - timedelta(days=100))
        Instalment.objects.create(loan=loan, number=1, due_date=today + timedelta(days=days), amount_due=500)
        loans[days] = loan

    risk_score_task.delay(today.isoformat()).get()

    scored = {days: Loan.objects.get(pk=loan.pk) for days, loan in loans.items()}
    assert scored[7].pay_band == "E" and scored[7].p_pay is not None
    assert scored[8].pay_band == "" and scored[8].p_pay is None  # outside the window: not scored
    assert planned(loans[7]) == ["pre_due_early"]
    assert planned(loans[8]) == []


def test_a_loan_scored_well_tonight_gets_no_early_reminder():
    today = lender_today()
    Scorer.objects.filter(target="pay", active=True).update(base_odds=Decimal("1000"))
    loan = LoanFactory(disbursed_on=today - timedelta(days=100))
    Instalment.objects.create(loan=loan, number=1, due_date=today + timedelta(days=7), amount_due=500)

    assert risk_score(as_of=today).status == "ok"
    reminders_plan(as_of=today)

    assert Loan.objects.get(pk=loan.pk).pay_band == "A"
    assert planned(loan) == []


# --- the texts ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "language, words, opt_out",
    [("zh-hans", ["温馨提示", "到期"], "回复TD退订"), ("en", ["friendly heads-up", "falls due on"], "Reply STOP")],
)
def test_the_early_text_renders_in_the_borrowers_language(as_of, language, words, opt_out):
    loan = due_in(7, as_of, band="D", borrower=BorrowerFactory(consent_after_hours=True, language=language))
    reminders_plan(as_of=as_of)
    make_due()

    reminders_dispatch()

    message = OutboundMessage.objects.get(loan=loan)
    instalment = Instalment.objects.get(loan=loan)
    assert message.status == "sent", message.reason
    text = message.rendered
    for expected in [*words, "1,000.00", instalment.due_date.isoformat(), loan.external_id, opt_out]:
        assert expected in text, (expected, text)
    for threat in ("逾期", "信用", "overdue", "credit", "legal"):
        assert threat not in text.lower()


def test_every_early_template_uses_only_known_variables():
    from collections_app.services.reminders import template_problems

    for template in MessageTemplate.objects.filter(code__startswith="pre_due_early"):
        assert template_problems(template.body) == [], template.code


# --- the band letters: the model and the admin ---------------------------------------------------------


@pytest.mark.parametrize("bad", ["DX", "de", "D,E", "DD", "F"])
def test_a_step_with_a_bad_band_letter_is_refused(bad):
    step = ReminderStep(
        strategy=Strategy.objects.get(product=""),
        offset_days=-10,
        channel="sms",
        template_code="pre_due_early",
        only_pay_bands=bad,
    )
    with pytest.raises(ValidationError) as refused:
        step.full_clean()
    assert "only_pay_bands" in refused.value.message_dict


def test_band_letters_are_kept_in_band_order():
    step = ReminderStep(
        strategy=Strategy.objects.get(product=""),
        offset_days=-10,
        channel="sms",
        template_code="pre_due_early",
        only_pay_bands="ED",
    )
    step.full_clean()
    assert step.only_pay_bands == "DE"


@pytest.fixture
def operator(client, admin_user):
    client.force_login(admin_user)
    return client


def strategy_post(operator, strategy, **step_changes):
    """The strategy's admin change form sent back as the page shows it, with the early step's fields
    changed (as test_strategy_choice.py's admin tests post it)."""
    url = f"/admin/collections_app/strategy/{strategy.pk}/change/"
    page = operator.get(url)
    assert page.status_code == 200
    data = {
        "name": strategy.name,
        "product": strategy.product or "",
        "call_at_dpd": strategy.call_at_dpd,
        "visit_at_dpd": strategy.visit_at_dpd,
        "legal_at_dpd": strategy.legal_at_dpd,
        "contact_policy": strategy.contact_policy,
        "send_at": strategy.send_at.strftime("%H:%M"),
        "challenger": strategy.challenger_id or "",
        "challenger_share": strategy.challenger_share,
    }

    def early_step(prefix, form):
        return step_changes if prefix == "steps" and form.instance.template_code == "pre_due_early" else None

    data.update(admin_inline_rows(page, early_step))
    return operator.post(url, data)


def test_the_admin_refuses_a_bad_band_letter_and_saves_good_ones(operator):
    default = Strategy.objects.get(product="")

    response = strategy_post(operator, default, only_pay_bands="DZ")

    assert response.status_code == 200
    steps = next(f.formset for f in response.context["inline_admin_formsets"] if f.formset.prefix == "steps")
    errors = [form.errors["only_pay_bands"] for form in steps.forms if "only_pay_bands" in form.errors]
    assert errors == [["Only the band letters A to E (capitals), e.g. DE; not Z."]]
    assert early_step().only_pay_bands == "DE"

    response = strategy_post(operator, default, only_pay_bands="EC")

    assert response.status_code == 302, response.content.decode()[:2000]
    assert early_step().only_pay_bands == "CE"
