"""What an export is: a kind with a header, its rows for an actor and parameters, and whether it
is too large to answer inline.

Each kind lives in its own module and registers itself here. `params` is a dict of plain JSON
values (the filters as the page parsed them), so a worker can run the same export later from a
FileJob row. `rows()` is a generator reading `chunk_size()` rows per query (keyset pages: each
page is its own short query, no cursor held open across a streamed response), with a fixed number
of queries per page."""

from django.utils.translation import gettext_lazy as _

from ....errors import DomainError

FORMATS = ("csv", "xlsx")
KINDS = {}


class ExportKind:
    name = ""
    title = _("Export")
    # Personal data the rows carry (always masked as on screen); recorded on the audit entry.
    pii_fields = ()
    # Kinds whose size is bounded by nature (a case's timeline, a dashboard table) never go to a worker.
    always_inline = False

    def open(self, actor, params):
        """(header, rows): the column titles and an iterator of rows (lists of values)."""
        return self.header(params), self.rows(actor, params)

    def header(self, params):
        raise NotImplementedError

    def rows(self, actor, params):
        raise NotImplementedError

    def is_large(self, actor, params, limit):
        return False

    def check(self, actor, params):
        """Refuse (DomainError) before anything is written: not visible, bad parameter."""

    def filename(self, params, fmt, stamp):
        return f"{self.name}-{stamp}.{fmt}"

    def audit_case_id(self, params):
        return None


def register(kind_class):
    KINDS[kind_class.name] = kind_class()
    return kind_class


def kind_named(name):
    try:
        return KINDS[name]
    except KeyError:
        raise DomainError("not_found") from None
