"""One error shape for every answer of the API: {"code", "detail", "fields"} (CONTRACT.md)."""
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response

from ..errors import DomainError

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
    return None
