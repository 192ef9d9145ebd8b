"""Inbound webhooks from gateways: SMS delivery receipts at /hooks/sms/<backend>/."""

import hmac
import json

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from .services.reminders import receipts_apply


@csrf_exempt
def sms_receipts(request, backend):
    """Body: {"receipts": [{"provider_id", "status": "delivered"|"failed", "error"}]}; header
    `X-Receipt-Secret` must equal the backend's shared secret (COLLECTIONS_SMS_RECEIPT_SECRET)."""
    if request.method != "POST":
        response = JsonResponse({"code": "method_not_allowed", "detail": "Use POST."}, status=405)
        response["Allow"] = "POST"
        return response
    secret = settings.COLLECTIONS_SMS_RECEIPT_SECRETS.get(backend, "")
    given = request.headers.get("X-Receipt-Secret", "")
    if not secret or not hmac.compare_digest(secret.encode(), given.encode()):
        return JsonResponse({"code": "not_authenticated", "detail": "Bad or missing receipt secret."}, status=401)
    try:
        body = json.loads(request.body or b"{}")
        receipts = body["receipts"]
        if not isinstance(receipts, list):
            raise TypeError
    except (ValueError, KeyError, TypeError):
        return JsonResponse(
            {
                "code": "validation_error",
                "detail": 'Expected {"receipts": [...]}.',
                "fields": {"receipts": ["A list of receipts is required."]},
            },
            status=400,
        )
    return JsonResponse({"updated": receipts_apply(backend=backend, receipts=receipts)})
