"""A scorecard's points table: its check (no overlapping bins, no gap, one catch-all per categorical
characteristic), the band cut-offs, and making a scorer the active one of its target.

`scorecard_check` is the one rule: the admin's bin formset and scorer activation call it today;
`risk_train --kind scorecard` (later) calls it on the table it built before saving it."""

from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from ...errors import DomainError
from ...models import RiskBand, ScorecardBin, Scorer
from ...models.risk import CATEGORICAL, TARGET_CHARACTERISTICS, Characteristic, ScorerKind
from ...actors import as_actor
from ...permissions import OPERATE, may

# Every numeric characteristic is a count, a number of days, a share or an amount: never below 0, so a
# table covers [0, ∞) (a first bin from an empty bound or from 0 or less).
DOMAIN_MIN = Decimal(0)


@dataclass(frozen=True)
class Bin:
    characteristic: str
    lower: Decimal | None
    upper: Decimal | None
    category: str
    points: int


def _bound(value):
    return "−∞" if value is None else format(value.normalize(), "f")


def _upper(value):
    return "∞" if value is None else format(value.normalize(), "f")


def _span(b):
    return f"[{_bound(b.lower)}, {_upper(b.upper)})"


def scorecard_problems(bins, *, target=None):
    """What is wrong with a points table (a list of sentences, empty when none): each characteristic
    that is not one the target can use, a bin whose bounds are reversed, two bins that overlap, a gap
    between two bins or at either end of [0, ∞), a categorical value twice, no catch-all category."""
    problems = []
    by_characteristic = {}
    for b in bins:
        by_characteristic.setdefault(b.characteristic, []).append(b)
    if not by_characteristic:
        return [_("A scorecard needs at least one bin.")]
    allowed = set(TARGET_CHARACTERISTICS[target]) if target else set(Characteristic.values)
    for name, rows in by_characteristic.items():
        if name not in allowed:
            problems.append(
                _("%(characteristic)s cannot be used for target %(target)s.")
                % {"characteristic": name, "target": target}
            )
            continue
        if name in CATEGORICAL:
            seen = {}
            for b in rows:
                if b.lower is not None or b.upper is not None:
                    problems.append(
                        _("%(characteristic)s is categorical: give a category, not bounds.") % {"characteristic": name}
                    )
                if b.category in seen:
                    problems.append(
                        _("%(characteristic)s: the category %(category)s appears twice.")
                        % {"characteristic": name, "category": b.category or _("(any other)")}
                    )
                seen[b.category] = b
            if "" not in seen:
                problems.append(
                    _("%(characteristic)s: no bin with an empty category catches the other values.")
                    % {"characteristic": name}
                )
            continue
        for b in rows:
            if b.category:
                problems.append(
                    _("%(characteristic)s is numeric: bin %(bin)s must not name a category.")
                    % {"characteristic": name, "bin": _span(b)}
                )
            if b.lower is not None and b.upper is not None and b.lower >= b.upper:
                problems.append(
                    _("%(characteristic)s: bin %(bin)s is empty (its lower bound is not below its upper bound).")
                    % {"characteristic": name, "bin": _span(b)}
                )
        ordered = sorted(rows, key=lambda b: Decimal("-Infinity") if b.lower is None else b.lower)
        first, last = ordered[0], ordered[-1]
        if first.lower is not None and first.lower > DOMAIN_MIN:
            problems.append(
                _("%(characteristic)s: values from 0 to %(lower)s fall in no bin.")
                % {"characteristic": name, "lower": _bound(first.lower)}
            )
        for prev, nxt in zip(ordered, ordered[1:], strict=False):
            prev_upper = Decimal("Infinity") if prev.upper is None else prev.upper
            nxt_lower = Decimal("-Infinity") if nxt.lower is None else nxt.lower
            if prev_upper > nxt_lower:
                problems.append(
                    _("%(characteristic)s: bins %(first)s and %(second)s overlap.")
                    % {"characteristic": name, "first": _span(prev), "second": _span(nxt)}
                )
            elif prev_upper < nxt_lower:
                problems.append(
                    _(
                        "%(characteristic)s: values from %(lower)s to %(upper)s fall in no bin (between %(first)s and %(second)s)."
                    )
                    % {
                        "characteristic": name,
                        "lower": _upper(prev.upper),
                        "upper": _bound(nxt.lower),
                        "first": _span(prev),
                        "second": _span(nxt),
                    }
                )
        if last.upper is not None:
            problems.append(
                _("%(characteristic)s: values from %(upper)s up fall in no bin.")
                % {"characteristic": name, "upper": _upper(last.upper)}
            )
    return problems


def scorecard_check(bins, *, target=None):
    """Raise ValidationError naming every problem of the table (see scorecard_problems)."""
    problems = scorecard_problems(list(bins), target=target)
    if problems:
        raise ValidationError(problems)


def scorer_bins(scorer):
    """The scorer's stored table as Bin rows."""
    return [
        Bin(b.characteristic, b.lower, b.upper, b.category, b.points)
        for b in ScorecardBin.objects.filter(scorer=scorer).order_by("characteristic", "lower", "category")
    ]


def scorer_bins_save(scorer, bins):
    """Store a table of Bin rows as the scorer's (training, copies)."""
    ScorecardBin.objects.bulk_create(
        ScorecardBin(
            scorer=scorer,
            characteristic=b.characteristic,
            lower=b.lower,
            upper=b.upper,
            category=b.category,
            points=b.points,
        )
        for b in bins
    )


def scorer_activate(*, actor, scorer_id):
    """Make the scorer the active one of its target (the one active before is deactivated in the same
    transaction). Refused, with the active scorer unchanged, when the scorer is a scorecard whose
    table fails scorecard_check or a model without a trained artifact."""
    actor = as_actor(actor)
    if not (actor.is_system or may(actor, OPERATE)):
        raise DomainError("permission_denied")
    with transaction.atomic():
        scorer = Scorer.objects.select_for_update().filter(pk=scorer_id).first()
        if scorer is None:
            raise DomainError("not_found")
        if scorer.kind == ScorerKind.SCORECARD:
            problems = scorecard_problems(scorer_bins(scorer), target=scorer.target)
        else:
            problems = [] if scorer.artifact else [_("This model has not been trained: it has no stored estimator.")]
        if problems:
            raise DomainError("validation_error", " ".join(problems), fields={"bins": problems})
        if scorer.active:
            return scorer
        before = list(Scorer.objects.select_for_update().filter(target=scorer.target, active=True))
        Scorer.objects.filter(pk__in=[s.pk for s in before]).update(active=False)
        Scorer.objects.filter(pk=scorer.pk).update(active=True)
        scorer.active = True
    return scorer


def band_cutoffs():
    """[(code, min probability as float)] from the highest band down (RiskBand rows)."""
    return [
        (code, float(low))
        for code, low in RiskBand.objects.order_by("-min_probability").values_list("code", "min_probability")
    ]


def band_problems(cutoffs):
    """The band table's problems: no band, no band starting at 0 (a probability would fall in none)."""
    if not cutoffs:
        return [_("No risk bands are defined.")]
    if min(low for _code, low in cutoffs) > 0:
        return [_("The lowest risk band must start at 0.00 so every probability falls in a band.")]
    return []
