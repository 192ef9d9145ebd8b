"""Who may agree to what: a case's plan policy, the authority an actor carries, and which authority a
proposal needs (CONTRACT.md, "Repayment plans and settlements", Policy)."""

from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext as _

from ...models import PlanPolicy, Proposer, Strategy
from ...permissions import PLAN_UNLIMITED as UNLIMITED

# Staff authorities from the narrowest; the borrower's is measured on its own and, when a
# borrower's proposal goes beyond it, the narrowest staff authority covering it decides.
STAFF_LADDER = (Proposer.COLLECTOR, Proposer.SUPERVISOR, Proposer.LEGAL_OFFICER)


def policy_for_loan(loan):
    """The product's strategy's policy, else the default strategy's, else the contract's defaults."""
    strategies = {s.product: s for s in Strategy.objects.filter(product__in=[loan.product, ""])}
    for product in (loan.product, ""):
        strategy = strategies.get(product)
        if strategy is not None:
            policy = PlanPolicy.objects.filter(strategy=strategy).first()
            if policy is not None:
                return policy
    return PlanPolicy()


def covers(policy, authority, months, discount_share):
    """Does `authority` cover a plan of `months` with this discount (a fraction of the balance)?"""
    if authority is None:
        return False
    if months > policy.max_months:
        return False
    if authority == UNLIMITED:
        return discount_share <= max(policy.authority(p)[1] for p in STAFF_LADDER)
    max_months, max_discount = policy.authority(authority)
    return months <= max_months and discount_share <= max_discount


def authority_covers(decider, needed):
    """Does a decider's authority reach the authority a plan waits for?"""
    if decider is None:
        return False
    if decider == UNLIMITED:
        return True
    ladder = (Proposer.BORROWER, *STAFF_LADDER)
    return ladder.index(decider) >= ladder.index(needed) if decider in ladder and needed in ladder else False


@dataclass(frozen=True)
class Placement:
    """Where a proposal lands: active at once (`needs` = the proposer's own authority), or waiting
    for the narrowest authority that covers it."""

    active_at_once: bool
    needs: str


def place_proposal(policy, proposer, months, discount_share):
    """Active at once, waiting for an authority, or None when no authority covers it."""
    if covers(policy, proposer, months, discount_share):
        return Placement(True, proposer if proposer != UNLIMITED else Proposer.LEGAL_OFFICER)
    for authority in STAFF_LADDER:
        if covers(policy, authority, months, discount_share):
            return Placement(False, authority)
    return None


def limits_text(policy):
    """The limits, for a `plan_outside_policy` refusal's detail."""
    parts = [_("longest plan %(months)d months") % {"months": policy.max_months}]
    for authority in STAFF_LADDER:
        months, discount = policy.authority(authority)
        parts.append(
            _("%(who)s: up to %(months)d months, discount up to %(pct)s %%")
            % {"who": Proposer(authority).label, "months": months, "pct": _percent(discount)}
        )
    return "; ".join(parts)


def _percent(share):
    return str((Decimal(share) * 100).quantize(Decimal("1")))
