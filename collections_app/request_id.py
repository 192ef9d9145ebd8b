"""A request id on every answer (`X-Request-ID`): the one a proxy in front sent, when it looks like
an id, else a new one. A 500 names it in its body and in the log line with the trace, so an
integrator's report can be matched with the server's log."""

import re
import uuid

_GIVEN = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def request_id_of(request):
    rid = getattr(request, "request_id", None)
    if rid is None:
        given = request.headers.get("X-Request-ID", "") if hasattr(request, "headers") else ""
        rid = given if _GIVEN.fullmatch(given) else uuid.uuid4().hex
        request.request_id = rid
    return rid


class RequestIdMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        rid = request_id_of(request)
        response = self.get_response(request)
        response["X-Request-ID"] = rid
        return response
