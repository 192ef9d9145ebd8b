"""The signed body (CONTRACT.md): the raw bytes sent and the `X-Collections-Signature` header,
t=<unix seconds at send time>,v1=<hex HMAC-SHA256("<t>.<raw body>", secret)>."""

import hashlib
import hmac
import json


def body_bytes(payload):
    """The raw body sent and signed: compact, sorted keys, UTF-8. The same bytes every attempt."""
    return json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def sign(secret, timestamp, raw_body):
    """CONTRACT.md: hex HMAC-SHA256 of "<t>.<raw body>" with the subscription secret."""
    message = str(int(timestamp)).encode() + b"." + raw_body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signature_header(secret, timestamp, raw_body):
    return f"t={int(timestamp)},v1={sign(secret, timestamp, raw_body)}"
