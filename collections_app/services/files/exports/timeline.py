"""A case's timeline as the case page tells it (title and detail per event), newest first, read by
keyset pages through `case_timeline` (which applies the row scope: an invisible case is not_found)."""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .... import permissions as perms
from ....errors import DomainError
from ....selectors.cases import case_detail, case_timeline
from ....timeline import describe
from ....workflow import State
from .limits import chunk_size
from .registry import ExportKind, register


# Kinds whose detail line is personal data an export never carries.
PERSONAL_DETAIL = frozenset({"vulnerability_set", "vulnerability_cleared"})


@register
class TimelineExport(ExportKind):
    name = "timeline"
    title = gettext_lazy("Case timeline")
    always_inline = True  # one case's events: bounded by nature

    def header(self, params):
        # "Kind" stays the stable code (a key to sort and count by); the stages read as on the page.
        return [_("At"), _("Event"), _("Detail"), _("Actor"), _("Kind (code)"), _("From stage"), _("To stage")]

    def check(self, actor, params):
        case = case_detail(actor, params["case_id"])
        if not perms.may(actor, perms.EXPORT_CASES, case):
            raise DomainError("permission_denied")

    def audit_case_id(self, params):
        return params["case_id"]

    def filename(self, params, fmt, stamp):
        return f"case-{params['case_id']}-timeline-{stamp}.{fmt}"

    def rows(self, actor, params):
        before, size = None, chunk_size()
        stages = {value: str(label) for value, label in State.choices}
        while True:
            events = case_timeline(actor, params["case_id"], before_id=before, limit=size + 1)
            more = len(events) > size
            for event in events[:size]:
                title, detail = describe(event)
                if event.kind in PERSONAL_DETAIL:
                    detail = ""  # which vulnerability: personal data, on the case page only (CONTRACT.md)
                yield [
                    event.at,
                    title,
                    detail,
                    event.actor,
                    event.kind,
                    stages.get(event.from_state, event.from_state),
                    stages.get(event.to_state, event.to_state),
                ]
            if not more:
                return
            before = events[size - 1].pk
