"""The error answers the endpoints document in the OpenAPI schema (CONTRACT.md's one error shape,
common.errors.ErrorSerializer), stated once."""

from drf_spectacular.utils import OpenApiResponse

from .errors import ErrorSerializer

# What an endpoint acting on a case or a record can answer besides its own refusals (a 409, a 422),
# which it documents before these.
ERRORS = {400: ErrorSerializer, 401: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer}


def error_response(description):
    """An error answer documented with what it means (its reason codes)."""
    return OpenApiResponse(ErrorSerializer, description=description)
