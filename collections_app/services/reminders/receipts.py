"""Delivery receipts from a gateway, applied to the messages it sent."""

from django.utils import timezone

from ...models import OutboundMessage


def receipts_apply(*, backend, receipts):
    """Delivery receipts from a gateway: [{"provider_id", "status": "delivered"|"failed", "error"}]."""
    updated = 0
    for receipt in receipts:
        provider_id = str(receipt.get("provider_id") or "")
        status = str(receipt.get("status") or "")
        if not provider_id or status not in ("delivered", "failed"):
            continue
        fields = {"delivery_status": status, "updated_at": timezone.now()}
        if status == "failed":
            fields["error"] = str(receipt.get("error") or "delivery failed")[:500]
        updated += OutboundMessage.objects.filter(provider_message_id=provider_id).update(**fields)
    return updated
