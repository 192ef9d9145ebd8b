"""Reads of risk scoring: the latest scoring run and what people are told about it (the dashboard)."""

from django.utils.translation import gettext as _

from ..models import ScoringRun


def scoring_run_latest():
    """The latest ScoringRun, or None (one indexed query)."""
    return ScoringRun.objects.order_by("-started_at", "-id").first()


def scoring_note(run):
    """(sentence, failed) about a scoring run: a failed run says the scores shown are the last good run's."""
    if run is None:
        return _("Risk scores have never been computed."), False
    if run.status == ScoringRun.Status.FAILED:
        return (
            _("Risk scoring for %(day)s failed; the scores shown are from the last good run.")
            % {"day": run.as_of.isoformat()},
            True,
        )
    if run.status == ScoringRun.Status.RUNNING:
        return _("Risk scoring for %(day)s is running.") % {"day": run.as_of.isoformat()}, False
    return (
        _("Risk scores as of %(day)s: %(cases)s cases, %(loans)s loans due soon.")
        % {"day": run.as_of.isoformat(), "cases": run.counts.get("cases", 0), "loans": run.counts.get("loans", 0)},
        False,
    )
