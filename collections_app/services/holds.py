"""Borrower-level holds: placing and lifting them, with an event on each of the borrower's open cases."""

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from .. import permissions as perms
from ..actors import as_actor
from ..errors import DomainError, invalid
from ..models import Borrower, Case, Hold
from ..workflow import OPEN_STATES
from ._common import parse_moment, require_choice, require_text
from .events import event_build, events_write


def _announce_on_open_cases(borrower_id, kind, actor, hold, reason, now):
    """Holds change what a case may do: bump its change position and put the change on its timeline."""
    cases = list(Case.objects.select_for_update().filter(borrower_id=borrower_id, state__in=OPEN_STATES))
    if not cases:
        return
    Case.objects.filter(pk__in=[c.pk for c in cases]).update(updated_at=now)
    payload = {
        "hold_id": hold.pk,
        "code": hold.code,
        "source": hold.source,
        "ends_at": hold.ends_at.isoformat() if hold.ends_at else None,
    }
    events_write([event_build(c, kind, actor, reason=reason, payload=payload, at=now) for c in cases])


def hold_place(
    *,
    borrower_id,
    code,
    actor=None,
    reason="",
    starts_at=None,
    ends_at=None,
    source=Hold.Source.STAFF,
    _authorised=False,
):
    """Place a hold. An identical active hold (same code and source) is returned, not duplicated.

    `_authorised` is for services that place a hold as a consequence of an action they already
    checked (a collector's `dispute_raised` outcome).
    """
    actor = as_actor(actor)
    if not (_authorised or perms.may_place_hold(actor)):
        raise DomainError("permission_denied")
    require_choice(code, Hold.Code.choices, "code")
    require_choice(source, Hold.Source.choices, "source")
    if source == Hold.Source.STAFF:
        reason = require_text(reason, "reason")
    now = timezone.now()
    starts = parse_moment(starts_at, "starts_at") if starts_at else now
    ends = parse_moment(ends_at, "ends_at") if ends_at else None
    if ends is not None and ends <= max(starts, now):
        raise invalid("ends_at", _("The end must be after the start and in the future."))
    with transaction.atomic():
        borrower = Borrower.objects.select_for_update().filter(pk=borrower_id).first()
        if borrower is None:
            raise DomainError("not_found")
        if not (_authorised or perms.may(actor, perms.HOLD_PLACE, borrower)):
            raise DomainError("not_found")  # a borrower outside the actor's row scope
        existing = Hold.objects.active(now).filter(borrower=borrower, code=code, source=source).first()
        if existing is not None:
            return existing
        hold = Hold.objects.create(
            borrower=borrower,
            code=code,
            reason=reason or "",
            starts_at=starts,
            ends_at=ends,
            source=source,
            placed_by=actor.user,
            placed_by_label=actor.label,
            placed_at=now,
        )
        _announce_on_open_cases(borrower.pk, "hold_placed", actor, hold, hold.reason, now)
    return hold


def hold_lift(*, hold_id, actor=None, reason="", _authorised=False):
    """Lift a hold. `_authorised`: the loan system's own holds, cleared by its borrower upsert."""
    actor = as_actor(actor)
    if not (_authorised or perms.may_place_hold(actor)):
        raise DomainError("permission_denied")
    with transaction.atomic():
        hold = Hold.objects.select_for_update().filter(pk=hold_id).first()
        if hold is None or not (_authorised or perms.may(actor, perms.HOLD_PLACE, hold.borrower)):
            raise DomainError("not_found")
        if hold.source == Hold.Source.STAFF or not actor.is_client:
            reason = require_text(reason, "reason")
        if hold.lifted_at is not None:
            return hold
        now = timezone.now()
        hold.lifted_at, hold.lifted_by_label, hold.lift_reason = now, actor.label, reason or ""
        hold.save(update_fields=["lifted_at", "lifted_by_label", "lift_reason"])
        _announce_on_open_cases(hold.borrower_id, "hold_lifted", actor, hold, hold.lift_reason, now)
    return hold


def holds_set_from_loan_system(*, borrower_id, codes, actor=None):
    """The borrower upsert's `holds`: make the active loan-system holds exactly `codes`.
    Staff holds are untouched."""
    actor = as_actor(actor)
    wanted = set()
    for code in codes or []:
        wanted.add(require_choice(code, Hold.Code.choices, "holds"))
    with transaction.atomic():
        active = {
            h.code: h for h in Hold.objects.active().filter(borrower_id=borrower_id, source=Hold.Source.LOAN_SYSTEM)
        }
        for code in sorted(wanted - active.keys()):
            hold_place(
                borrower_id=borrower_id,
                code=code,
                actor=actor,
                source=Hold.Source.LOAN_SYSTEM,
                reason=_("Set by the loan system"),
                _authorised=True,
            )
        for code in sorted(active.keys() - wanted):
            hold_lift(hold_id=active[code].pk, actor=actor, reason=_("Cleared by the loan system"), _authorised=True)
