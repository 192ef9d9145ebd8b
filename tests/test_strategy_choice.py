"""Issue 12, strategies by rules: the rule set's check, the stable group of a case, the nightly
choice (first scoring, a band change re-chooses but keeps the group, a rerun changes nothing), the
event on the timeline, and the strategy in force acting on the sweep and the reminder planner."""

import random
from collections import Counter
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from collections_app.calendar import lender_today
from collections_app.models import Bucket, Case, CaseEvent, Strategy, StrategyChoice, StrategyRule
from collections_app.services.strategy_choice import (
    SLOT_SQL,
    group_slot,
    strategies_choose,
    strategy_rules_problems,
)
from collections_app.timeline import describe

from .factories import admin_inline_rows, fresh, overdue_case

pytestmark = pytest.mark.django_db


def scored(case, band):
    """The band the nightly scoring would have written (services/risk/score.py writes these columns
    for every open case; the scorer itself is not what these tests are about)."""
    p_cure = {"A": "0.90", "B": "0.70", "C": "0.50", "D": "0.30", "E": "0.10"}[band]
    Case.objects.filter(pk=case.pk).update(
        risk_band=band, p_cure=p_cure, risk_model="scorecard-1", risk_scored_at=timezone.now()
    )
    return case


def strategy(name, product=None, **fields):
    return Strategy.objects.create(name=name, product=product, **fields)


def rule(position, target, product="", band="", bucket=None):
    return StrategyRule.objects.create(
        position=position,
        strategy=target,
        product=product,
        band=band,
        bucket=Bucket.objects.get(name=bucket) if bucket else None,
    )


# --- the group slot -------------------------------------------------------------------------------


def test_group_slot_is_the_same_in_python_and_in_sql():
    from django.db import connection

    ids = [1, 2, 3, 99, 100, 12345, 2_147_483_646, 2_147_483_647, 2_147_483_648, 9_000_000_000_123]
    with connection.cursor() as cursor:
        for case_id in ids:
            cursor.execute("SELECT " + SLOT_SQL.replace("%%", "%").format(id=str(case_id)))
            assert cursor.fetchone()[0] == group_slot(case_id), case_id


@pytest.mark.parametrize("share", [0, 10, 20, 50])
def test_ten_thousand_ids_fall_to_the_challenger_in_their_share(share):
    consecutive = sum(group_slot(i) < share for i in range(1, 10_001))
    scattered = sum(group_slot(i) < share for i in random.Random(7).sample(range(1, 10**9), 10_000))
    # Consecutive ids (how cases are numbered) spread almost exactly; random ids like a fair coin:
    # within four standard deviations of a binomial (2 % of 10,000 for share 50).
    assert abs(consecutive - share * 100) <= 20
    assert abs(scattered - share * 100) <= 4 * (10_000 * share / 100 * (1 - share / 100)) ** 0.5 + 1


def test_every_slot_is_used_about_equally():
    counts = Counter(group_slot(i) for i in range(1, 10_001))
    assert set(counts) == set(range(100))
    assert max(counts.values()) - min(counts.values()) <= 3


# --- the rule set's check -------------------------------------------------------------------------


def test_a_rule_set_leaving_combinations_without_a_strategy_is_refused_naming_them():
    gentle = strategy("Gentle")
    buckets = list(Bucket.objects.order_by("min_dpd"))
    rules = [StrategyRule(position=1, strategy=gentle, product="cash", band="")]
    problems = strategy_rules_problems(rules, products=["cash", "card"], buckets=buckets[:1])
    assert problems[0] == f"No rule chooses a strategy for product “card”, band A, bucket {buckets[0].name}."
    assert len(problems) == 5  # card × five bands × one bucket
    assert (
        strategy_rules_problems(
            [*rules, StrategyRule(position=9, strategy=gentle)], products=["cash", "card"], buckets=buckets
        )
        == []
    )


def test_no_rules_at_all_is_accepted_every_case_follows_its_product_default():
    assert strategy_rules_problems([], products=["cash"]) == []


def test_many_gaps_are_summed_up_after_the_first_ten():
    problems = strategy_rules_problems(
        [StrategyRule(position=1, strategy=strategy("S"), band="A")], products=["cash", "card"]
    )
    assert len(problems) == 11
    assert problems[-1].startswith("… and ") and "catch-all" in problems[-1]


def test_a_challenger_share_outside_0_to_50_and_a_strategy_challenging_itself_are_refused():
    champion = strategy("Champion")
    champion.challenger_share = 60
    with pytest.raises(ValidationError) as refused:
        champion.full_clean()
    assert refused.value.message_dict["challenger_share"] == [
        "The challenger's share must be from 0 to 50 %; it is 60 %."
    ]
    champion.challenger_share = 20
    champion.challenger = champion
    with pytest.raises(ValidationError) as refused:
        champion.full_clean()
    assert refused.value.message_dict["challenger"] == ["Strategy “Champion” cannot be its own challenger."]


def test_the_database_refuses_a_share_above_50_too():
    from django.db import IntegrityError, transaction

    with pytest.raises(IntegrityError), transaction.atomic():
        strategy("Too much", challenger_share=51)


# --- choosing -------------------------------------------------------------------------------------


def test_first_scoring_chooses_by_the_first_matching_rule_and_writes_an_event():
    default = Strategy.objects.get(product="")
    hard = strategy("Hard line")
    soft = strategy("Soft touch")
    rule(1, hard, band="E")
    rule(2, soft, product="cash", band="")
    rule(99, default)
    e_case = scored(overdue_case(days_overdue=10, product="cash"), "E")
    a_case = scored(overdue_case(days_overdue=10, product="cash"), "A")
    other = scored(overdue_case(days_overdue=10, product="card"), "A")
    unscored = overdue_case(days_overdue=10, product="cash")

    result = strategies_choose()

    assert (result.chosen, result.first, result.changed) == (3, 3, 3)
    assert fresh(e_case).strategy == hard and fresh(a_case).strategy == soft and fresh(other).strategy == default
    assert {fresh(c).strategy_group for c in (e_case, a_case, other)} == {"champion"}
    assert fresh(unscored).strategy is None and not StrategyChoice.objects.filter(case=unscored).exists()
    event = CaseEvent.objects.get(case=e_case, kind="strategy_chosen")
    assert event.payload["strategy"] == "Hard line" and event.payload["band"] == "E"
    assert event.payload["from_strategy"] is None and event.payload["group"] == "champion"
    assert describe(event) == ("Strategy chosen", "— → Hard line · champion group · band E")


def test_a_bucket_rule_matches_by_the_cases_days_past_due():
    late = strategy("Late")
    early = strategy("Early")
    buckets = list(Bucket.objects.order_by("min_dpd"))
    rule(1, late, bucket=buckets[2].name)  # 31-60
    rule(2, early)
    case40 = scored(overdue_case(days_overdue=40), "C")
    case10 = scored(overdue_case(days_overdue=10), "C")
    strategies_choose()
    assert fresh(case40).strategy == late and fresh(case10).strategy == early


def test_without_rules_a_case_gets_its_products_default_then_the_default():
    cash = strategy("Cash default", product="cash")
    default = Strategy.objects.get(product="")
    on_cash = scored(overdue_case(product="cash"), "B")
    on_card = scored(overdue_case(product="card"), "B")
    strategies_choose()
    assert fresh(on_cash).strategy == cash and fresh(on_card).strategy == default


def test_a_rerun_the_same_day_changes_nothing():
    rule(1, strategy("Only"))
    case = scored(overdue_case(), "D")
    strategies_choose()
    before = fresh(case)
    again = strategies_choose()
    assert (again.chosen, again.changed) == (0, 0)
    after = fresh(case)
    assert (after.strategy_id, after.strategy_group, after.updated_at) == (
        before.strategy_id,
        before.strategy_group,
        before.updated_at,
    )
    assert CaseEvent.objects.filter(case=case, kind="strategy_chosen").count() == 1


def test_challenger_group_follows_the_challenger_and_keeps_its_group_when_the_band_changes():
    challenger = strategy("Challenger")
    champion = strategy("Champion", challenger=challenger, challenger_share=50)
    other = strategy("Other")
    other_challenger = strategy("Other challenger")
    rule(1, other, band="E")
    rule(2, champion)
    cases = [scored(overdue_case(), "C") for _ in range(12)]
    strategies_choose()
    groups = {c.pk: fresh(c).strategy_group for c in cases}
    assert set(groups.values()) == {"champion", "challenger"}
    for case in cases:
        expected = "challenger" if group_slot(case.pk) < 50 else "champion"
        assert groups[case.pk] == expected
        assert fresh(case).strategy == (challenger if expected == "challenger" else champion)
        choice = StrategyChoice.objects.get(case=case)
        assert choice.test_strategy == champion and choice.band == "C"

    # The band changes: chosen again by the rules (`other`, no challenger of its own), group kept.
    for case in cases:
        scored(case, "E")
    result = strategies_choose()
    assert result.chosen == 12 and result.first == 0
    for case in cases:
        now = fresh(case)
        assert now.strategy == other and now.strategy_group == groups[case.pk]
        assert StrategyChoice.objects.get(case=case).test_strategy == champion  # the test it counts in

    # With a challenger on `other`, the challenger group follows it; a share change moves nobody.
    Strategy.objects.filter(pk=other.pk).update(challenger=other_challenger, challenger_share=0)
    for case in cases:
        scored(case, "C")
        scored(case, "E")
    Case.objects.filter(pk__in=[c.pk for c in cases]).update(risk_band="E")
    StrategyChoice.objects.filter(case__in=cases).update(band="C")
    strategies_choose()
    for case in cases:
        now = fresh(case)
        assert now.strategy_group == groups[case.pk]
        assert now.strategy == (other_challenger if groups[case.pk] == "challenger" else other)


def test_a_band_change_to_the_same_strategy_writes_no_event():
    only = strategy("Only")
    rule(1, only)
    case = scored(overdue_case(), "B")
    strategies_choose()
    scored(case, "D")
    result = strategies_choose()
    assert (result.chosen, result.changed) == (1, 0)
    assert CaseEvent.objects.filter(case=case, kind="strategy_chosen").count() == 1
    assert StrategyChoice.objects.get(case=case).band == "D"


def test_closed_and_resolved_cases_are_not_chosen_for():
    rule(1, strategy("Only"))
    case = scored(overdue_case(), "B")
    Case.objects.filter(pk=case.pk).update(state="resolved")
    assert strategies_choose().chosen == 0


def test_the_first_choice_records_what_the_tests_page_measures_from():
    rule(1, strategy("Only"))
    case = scored(overdue_case(days_overdue=10), "B")
    day = lender_today() - timedelta(days=3)
    strategies_choose(as_of=day)
    choice = StrategyChoice.objects.get(case=case)
    assert choice.chosen_on == day and choice.amount_overdue == fresh(case).amount_overdue


# --- the strategy in force acts -------------------------------------------------------------------


def test_the_sweep_escalates_a_case_by_its_chosen_strategys_thresholds():
    from collections_app.services.sweep import sweep_run

    fast = strategy("Fast", call_at_dpd=3, visit_at_dpd=10, legal_at_dpd=20)
    rule(1, fast, band="E")
    rule(2, Strategy.objects.get(product=""))
    on_fast = scored(overdue_case(days_overdue=5), "E")  # reminder by the default (calls at 8)
    on_default = scored(overdue_case(days_overdue=5), "A")
    call_fast = scored(overdue_case(days_overdue=12), "E")  # call by the default (visits at 31)
    visit_fast = scored(overdue_case(days_overdue=25), "E")
    not_chosen = overdue_case(days_overdue=5)  # not scored yet: the product's default
    assert [c.state for c in (on_fast, on_default, call_fast, visit_fast)] == ["reminder", "reminder", "call", "call"]
    strategies_choose()

    report = sweep_run(as_of=lender_today())

    assert fresh(on_fast).state == "call" and fresh(call_fast).state == "visit"
    assert fresh(on_default).state == "reminder" and fresh(not_chosen).state == "reminder"
    assert fresh(visit_fast).state == "visit"
    assert report.counts["escalated_call"] == 1 and report.counts["escalated_visit"] == 2
    event = CaseEvent.objects.filter(case=on_fast, kind="transition").latest("id")
    assert event.payload == {"transition": "start_calls", "dpd": 5}


def test_a_product_strategy_still_acts_on_cases_not_chosen_for():
    from collections_app.services.sweep import sweep_run

    strategy("Payday", product="pdl", call_at_dpd=3, visit_at_dpd=10, legal_at_dpd=20)
    rules_only = strategy("Slow", call_at_dpd=20, visit_at_dpd=40, legal_at_dpd=80)
    rule(1, rules_only)
    chosen = scored(overdue_case(days_overdue=2, product="pdl"), "C")  # reminder: Payday calls at 3
    waiting = overdue_case(days_overdue=2, product="pdl")
    assert fresh(chosen).state == fresh(waiting).state == "reminder"
    strategies_choose()
    sweep_run(as_of=lender_today() + timedelta(days=1))  # DPD 3
    assert fresh(chosen).state == "reminder"  # the rules chose Slow: calls at 20
    assert fresh(waiting).state == "call"  # until its first scoring, the product's default (calls at 3)


def test_the_reminder_planner_sends_the_chosen_strategys_steps():
    from collections_app.models import OutboundMessage, ReminderStep
    from collections_app.services.reminders import reminders_plan

    default = Strategy.objects.get(product="")
    special = strategy("Special")
    ReminderStep.objects.create(strategy=special, offset_days=7, channel="sms", template_code="special_7")
    rule(1, special, band="E")
    rule(2, default)
    chosen = scored(overdue_case(days_overdue=7), "E")
    other = scored(overdue_case(days_overdue=7), "A")
    strategies_choose()
    OutboundMessage.objects.all().delete()

    reminders_plan(as_of=lender_today())

    templates = dict(
        (loan_id, set(OutboundMessage.objects.filter(loan_id=loan_id).values_list("template_code", flat=True)))
        for loan_id in (chosen.loan_id, other.loan_id)
    )
    assert templates[chosen.loan_id] == {"special_7"}
    assert templates[other.loan_id] == {"overdue_firm"}


# --- the API ---------------------------------------------------------------------------------------


def test_the_api_case_shape_carries_the_strategy_null_until_chosen(client, supervisor):
    challenger = strategy("Challenger")
    rule(1, strategy("Champion", challenger=challenger, challenger_share=50))
    case = overdue_case()
    client.force_login(supervisor)
    assert client.get(f"/api/v1/cases/{case.pk}/").json()["strategy"] is None
    scored(case, "C")
    strategies_choose()
    body = client.get(f"/api/v1/cases/{case.pk}/").json()
    group = "challenger" if group_slot(case.pk) < 50 else "champion"
    assert body["strategy"] == {"name": "Challenger" if group == "challenger" else "Champion", "group": group}
    listed = {c["id"]: c for c in client.get("/api/v1/cases/").json()["results"]}
    assert listed[case.pk]["strategy"] == body["strategy"]


# --- the admin ------------------------------------------------------------------------------------


@pytest.fixture
def operator(client, admin_user):
    admin_user.is_staff = True
    admin_user.save()
    client.force_login(admin_user)
    return client


def rule_form(position, strategy_id, product="", band="", bucket=""):
    return {"position": position, "product": product, "band": band, "bucket": bucket, "strategy": strategy_id}


def test_the_admin_refuses_a_first_rule_that_leaves_gaps_and_names_them(operator):
    from .factories import LoanFactory

    LoanFactory(product="cash")
    target = strategy("Targeted")
    response = operator.post("/admin/collections_app/strategyrule/add/", rule_form(1, target.pk, band="E"))
    assert response.status_code == 200 and not StrategyRule.objects.exists()
    assert "No rule chooses a strategy for product “cash”, band A, bucket" in response.content.decode()

    response = operator.post("/admin/collections_app/strategyrule/add/", rule_form(99, target.pk))
    assert response.status_code == 302 and StrategyRule.objects.count() == 1
    response = operator.post("/admin/collections_app/strategyrule/add/", rule_form(1, target.pk, band="E"))
    assert response.status_code == 302 and StrategyRule.objects.count() == 2


def test_the_admin_refuses_to_delete_the_catch_all_rule(operator):
    from .factories import LoanFactory

    LoanFactory(product="cash")
    catch_all = rule(99, strategy("All"))
    rule(1, strategy("E only"), band="E")
    response = operator.post(f"/admin/collections_app/strategyrule/{catch_all.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302 and StrategyRule.objects.filter(pk=catch_all.pk).exists()
    response = operator.post(
        "/admin/collections_app/strategyrule/",
        {"action": "delete_checked", "_selected_action": [catch_all.pk]},
        follow=True,
    )
    assert StrategyRule.objects.filter(pk=catch_all.pk).exists()
    assert "No rule chooses a strategy for product “cash”, band A" in response.content.decode()
    specific = StrategyRule.objects.get(position=1)
    operator.post(
        "/admin/collections_app/strategyrule/", {"action": "delete_checked", "_selected_action": [specific.pk]}
    )
    assert not StrategyRule.objects.filter(pk=specific.pk).exists()


def strategy_form(**overrides):
    data = {
        "name": "New",
        "product": "",
        "call_at_dpd": 8,
        "visit_at_dpd": 31,
        "legal_at_dpd": 61,
        "contact_policy": "china",
        "send_at": "10:00",
        "challenger": "",
        "challenger_share": 0,
        "steps-TOTAL_FORMS": 0,
        "steps-INITIAL_FORMS": 0,
        "policy-TOTAL_FORMS": 0,
        "policy-INITIAL_FORMS": 0,
    }
    data.update(overrides)
    return data


def test_the_admin_refuses_a_share_above_50_and_a_strategy_challenging_itself(operator):
    champion = strategy("Champion")
    url = f"/admin/collections_app/strategy/{champion.pk}/change/"
    page = operator.get(url)
    assert page.status_code == 200
    inline_management = {}
    for formset in page.context["inline_admin_formsets"]:
        prefix = formset.formset.prefix
        inline_management.update({f"{prefix}-TOTAL_FORMS": 0, f"{prefix}-INITIAL_FORMS": 0})
    base = {**strategy_form(name="Champion", rules_only="on"), **inline_management}
    response = operator.post(url, {**base, "challenger_share": 60})
    assert response.context["adminform"].form.errors["challenger_share"] == [
        "The challenger's share must be from 0 to 50 %; it is 60 %."
    ]
    response = operator.post(url, {**base, "challenger": champion.pk, "challenger_share": 10})
    assert response.context["adminform"].form.errors["challenger"] == [
        "Strategy “Champion” cannot be its own challenger."
    ]
    other = strategy("Other")
    response = operator.post(url, {**base, "challenger": other.pk, "challenger_share": 10})
    assert response.status_code == 302
    champion.refresh_from_db()
    assert (champion.challenger, champion.challenger_share, champion.product) == (other, 10, None)


def test_editing_the_default_strategy_in_the_admin_keeps_it_the_default(operator):
    default = Strategy.objects.get(product="")
    url = f"/admin/collections_app/strategy/{default.pk}/change/"
    page = operator.get(url)
    data = {**strategy_form(name=default.name), **admin_inline_rows(page)}  # the inline rows sent back as shown
    response = operator.post(url, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Strategy.objects.get(pk=default.pk).product == ""


def test_the_nightly_scoring_chooses_the_strategy_of_the_cases_it_scores_first():
    """risk_score writes the scores and chooses strategies in one transaction (services/risk/score.py)."""
    from collections_app.services.risk.score import risk_score

    cautious = strategy("Cautious", call_at_dpd=3, visit_at_dpd=20, legal_at_dpd=45)
    rule(1, cautious)
    case = overdue_case(days_overdue=12)
    run = risk_score()
    assert run.status == "ok", run.error
    case = fresh(case)
    assert case.risk_band and case.strategy_id == cautious.pk and case.strategy_group == "champion"
    assert run.counts["strategies"]["first"] == 1
    assert CaseEvent.objects.filter(case=case, kind="strategy_chosen").count() == 1
    # The next night, the same band: nothing is chosen again.
    assert risk_score().counts["strategies"] == {"chosen": 0, "first": 0, "changed": 0}
