"""The API's JSON parser: DRF's, refusing a body nested deeper than MAX_DEPTH levels (400) instead
of recursing into it (1,000 levels were a RecursionError 500). No request of this API needs more
than a few levels."""

from django.utils.translation import gettext as _
from rest_framework import parsers
from rest_framework.exceptions import ParseError

MAX_DEPTH = 32


def too_deep(data, limit=MAX_DEPTH):
    """True when `data` nests lists and objects deeper than `limit` (the top level is 1). Iterative:
    a deep body cannot exhaust the stack here either."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        message = _("JSON nested deeper than %(n)d levels is not accepted.") % {"n": MAX_DEPTH}
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(message) from None
        if too_deep(data):
            raise ParseError(message)
        return data
