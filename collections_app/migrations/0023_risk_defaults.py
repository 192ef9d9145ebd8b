"""The contract's band cut-offs (A ≥ 0.80, B ≥ 0.60, C ≥ 0.40, D ≥ 0.20, E below) and two hand-made
scorecards, active until operators choose another scorer (docs/risk.md, "Scorecard"):

- `default-cure` 1, target cure (open cases, p_cure): base score 350 at odds 1:1, 40 points double
  the odds. A fresh case a few days late, reached last week, with a loan half a year old scores about
  450 (p ≈ 0.85, A); 40 days late with a broken promise and no contact for three weeks about 285
  (p ≈ 0.24, D); over 90 days late, never paying, two broken promises about 185 (p ≈ 0.05, E).
- `default-pay` 1, target pay (loans due in the next 7 days, nothing overdue, p_pay): base score 180
  at odds 1:1, 30 points double the odds; a repeat payer without earlier arrears scores about 280
  (p ≈ 0.91), a new loan's first instalment about 220 (p ≈ 0.72), a borrower with two earlier cases
  and a broken promise about 130 (p ≈ 0.24).

Bins are half-open [from, to): an empty bound is open-ended. "Never" (no payment, no right-party
contact) is the value 100000 days (services/risk/features.py NEVER_DAYS)."""

from decimal import Decimal

from django.db import migrations

NEVER = 100000

BANDS = [("A", "0.80"), ("B", "0.60"), ("C", "0.40"), ("D", "0.20"), ("E", "0.00")]


def _ranges(*rows):
    """(lower, upper, points) rows: None = open-ended."""
    return [(lo, hi, pts) for lo, hi, pts in rows]


CURE_BINS = {
    "dpd": _ranges((None, 8, 120), (8, 31, 70), (31, 61, 30), (61, 91, 5), (91, None, -20)),
    "broken_promises": _ranges((None, 1, 50), (1, 2, 25), (2, None, 0)),
    "paid_share": _ranges((None, "0.1", 10), ("0.1", "0.5", 30), ("0.5", None, 45)),
    "days_since_payment": _ranges((None, 15, 50), (15, 31, 35), (31, 91, 15), (91, None, 0)),
    "days_since_contact": _ranges((None, 8, 45), (8, 15, 35), (15, 31, 15), (31, None, 0)),
    "loan_age": _ranges((None, 91, 15), (91, 181, 30), (181, None, 40)),
    "borrower_loans": _ranges((None, 2, 40), (2, 4, 30), (4, None, 10)),
    "amount_overdue": _ranges((None, 1000, 45), (1000, 5000, 35), (5000, 20000, 20), (20000, None, 5)),
    "past_cures": _ranges((None, 1, 20), (1, None, 45)),
}
CURE_PRODUCTS = [("consumer", 35), ("phone_instalment", 30), ("education", 35), ("cash_loan", 15), ("", 25)]

PAY_BINS = {
    "past_cases": _ranges((None, 1, 80), (1, 2, 40), (2, None, 0)),
    "broken_promises": _ranges((None, 1, 40), (1, None, 0)),
    "paid_share": _ranges((None, "0.1", 10), ("0.1", "0.5", 25), ("0.5", None, 35)),
    # Never paid (a first instalment) is no evidence either way: between a recent and a stale payment.
    "days_since_payment": _ranges((None, 35, 40), (35, 70, 20), (70, NEVER, 0), (NEVER, None, 20)),
    "loan_age": _ranges((None, 60, 10), (60, 180, 25), (180, None, 35)),
    "borrower_loans": _ranges((None, 2, 30), (2, 4, 25), (4, None, 5)),
}
PAY_PRODUCTS = [("consumer", 30), ("phone_instalment", 25), ("education", 30), ("cash_loan", 10), ("", 20)]

SCORERS = [
    {
        "name": "default-cure",
        "target": "cure",
        "base_score": 350,
        "points_to_double_odds": 40,
        "bins": CURE_BINS,
        "products": CURE_PRODUCTS,
        "description": "Hand-made scorecard shipped with the system (docs/risk.md): p_cure of open cases.",
    },
    {
        "name": "default-pay",
        "target": "pay",
        "base_score": 180,
        "points_to_double_odds": 30,
        "bins": PAY_BINS,
        "products": PAY_PRODUCTS,
        "description": "Hand-made scorecard shipped with the system (docs/risk.md): p_pay of loans due soon.",
    },
]


def _dec(value):
    return None if value is None else Decimal(str(value))


def forwards(apps, schema_editor):
    RiskBand = apps.get_model("collections_app", "RiskBand")
    Scorer = apps.get_model("collections_app", "Scorer")
    ScorecardBin = apps.get_model("collections_app", "ScorecardBin")
    for code, low in BANDS:
        RiskBand.objects.get_or_create(code=code, defaults={"min_probability": Decimal(low)})
    for spec in SCORERS:
        if Scorer.objects.filter(name=spec["name"], version=1).exists():
            continue
        active = not Scorer.objects.filter(target=spec["target"], active=True).exists()
        scorer = Scorer.objects.create(
            name=spec["name"],
            version=1,
            kind="scorecard",
            target=spec["target"],
            active=active,
            description=spec["description"],
            base_score=spec["base_score"],
            base_odds=1,
            points_to_double_odds=spec["points_to_double_odds"],
        )
        rows = [
            ScorecardBin(scorer=scorer, characteristic=name, lower=_dec(lo), upper=_dec(hi), points=pts)
            for name, ranges in spec["bins"].items()
            for lo, hi, pts in ranges
        ]
        rows += [
            ScorecardBin(scorer=scorer, characteristic="product", category=code, points=pts)
            for code, pts in spec["products"]
        ]
        ScorecardBin.objects.bulk_create(rows)


def backwards(apps, schema_editor):
    apps.get_model("collections_app", "Scorer").objects.filter(
        name__in=[s["name"] for s in SCORERS], version=1
    ).delete()
    apps.get_model("collections_app", "RiskBand").objects.filter(code__in=[b for b, _ in BANDS]).delete()


class Migration(migrations.Migration):
    dependencies = [("collections_app", "0022_risk_scoring")]

    operations = [migrations.RunPython(forwards, backwards)]
