"""One error shape for every answer of the API: {"code", "detail", "fields"} (CONTRACT.md).

DRF's errors and the services' refusals come through `exception_handler`; an address under /api/
that matches no endpoint (`/api/v1/cases/abc/`) through `not_found`; anything unexpected is a 500
`server_error` with the request id (body and `X-Request-ID`), logged with its trace and never shown
one, whether DRF caught it (`exception_handler`) or Django did (`server_error`, config/urls.py's
handler500, which answers an HTML page outside /api/).
"""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse
from django.urls import Resolver404, resolve
from django.utils.translation import gettext as _
from django.views import defaults
from rest_framework import exceptions, serializers
from rest_framework.response import Response
from rest_framework.views import set_rollback

from ...errors import DomainError
from ...request_id import request_id_of

log = logging.getLogger("collections_app.api")

_CODES = [
    (exceptions.NotAuthenticated, "not_authenticated", 401),
    (exceptions.AuthenticationFailed, "not_authenticated", 401),
    (exceptions.PermissionDenied, "permission_denied", 403),
    (exceptions.NotFound, "not_found", 404),
    (exceptions.MethodNotAllowed, "method_not_allowed", 405),
    (exceptions.UnsupportedMediaType, "unsupported_media_type", 415),
    (exceptions.Throttled, "throttled", 429),
    (exceptions.ParseError, "validation_error", 400),
    (exceptions.ValidationError, "validation_error", 400),
]


# Documents the error body (the OpenAPI component `Error`); `exception_handler` builds it. No
# docstring: drf-spectacular would publish it as the component's description.
class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()
    fields = serializers.DictField(child=serializers.ListField(child=serializers.CharField()), required=False)


def _flatten(detail):
    if isinstance(detail, dict):
        return {name: [str(m) for m in (msgs if isinstance(msgs, list) else [msgs])] for name, msgs in detail.items()}
    if isinstance(detail, list):
        return {"non_field_errors": [str(m) for m in detail]}
    return {}


def exception_handler(exc, context):
    if isinstance(exc, DomainError):
        return Response(exc.as_dict(), status=exc.http_status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    for cls, code, status in _CODES:
        if isinstance(exc, cls):
            body = {"code": code}
            if isinstance(exc, exceptions.ValidationError):
                body["detail"] = "Some fields are not valid."
                body["fields"] = _flatten(exc.detail)
            else:
                body["detail"] = str(exc.detail)
                body["fields"] = {}
            response = Response(body, status=status)
            if isinstance(exc, exceptions.Throttled) and exc.wait:
                response["Retry-After"] = str(int(exc.wait))
            if status == 401:
                response["WWW-Authenticate"] = 'Token realm="api"'
            if isinstance(exc, exceptions.MethodNotAllowed):
                view = context.get("view")
                if view is not None:
                    response["Allow"] = ", ".join(view.allowed_methods)
            return response
    request = context.get("request")
    rid = request_id_of(request) if request is not None else None
    log.error("unexpected error answering %s (request id %s)", getattr(request, "path", "?"), rid, exc_info=exc)
    set_rollback()
    response = Response(_server_error_body(rid), status=500)
    if rid:
        response["X-Request-ID"] = rid
    return response


def _server_error_body(rid):
    return {
        "code": "server_error",
        "detail": _("Something went wrong on our side. Quote the request id if you report it."),
        "fields": {},
        "request_id": rid,
    }


def _is_api(request):
    return request.path.startswith("/api/")


def not_found(request, *args, **kwargs):
    """Any address under /api/ that no endpoint serves (a catch-all, last in config/urls.py). The
    catch-all stops CommonMiddleware's slash redirect, so a missing slash is named in the answer."""
    detail = _("No endpoint at this address.")
    if not request.path.endswith("/"):
        try:
            match = resolve(request.path + "/")
        except Resolver404:
            match = None
        if match is not None and match.func is not not_found:
            detail = _("No endpoint at this address; did you mean %(path)s?") % {"path": request.path + "/"}
    return JsonResponse({"code": "not_found", "detail": detail, "fields": {}}, status=404)


def server_error(request, *args, **kwargs):
    """handler500: JSON under /api/, the HTML 500 page (templates/500.html, or Django's plain one)
    elsewhere. Django has logged the trace; the request id ties that line to this answer."""
    rid = request_id_of(request)
    if _is_api(request):
        response = JsonResponse(_server_error_body(rid), status=500)
    else:
        response = defaults.server_error(request)
    response["X-Request-ID"] = rid
    return response
