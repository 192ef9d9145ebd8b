"""Channel backends: how an outbound message leaves the building.

A backend takes a batch of `Outgoing` and answers one `Result` per message. SMS backends: console
and file for development, and an HTTP gateway (batch JSON POST, bearer key, the message's
idempotency key so a resend after a crash is not delivered twice). E-mail goes through Django's
e-mail framework (EMAIL_BACKEND decides where)."""
import json
import logging
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.utils.module_loading import import_string

from .masking import mask_phone

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outgoing:
    key: str
    to: str
    text: str
    subject: str = ""


@dataclass(frozen=True)
class Result:
    key: str
    ok: bool
    provider_id: str = ""
    error: str = ""
    retryable: bool = True


class ConsoleSmsBackend:
    name = "console"

    def send(self, messages):
        for m in messages:
            # Development output: the number is masked like everywhere else people can read it.
            print(f"[sms] to={mask_phone(m.to)} key={m.key} {m.text}", flush=True)
        return [Result(m.key, True, provider_id=f"console-{m.key}") for m in messages]


class FileSmsBackend:
    """Appends one JSON line per message to a file (COLLECTIONS_SMS_FILE)."""

    name = "file"

    def send(self, messages):
        path = Path(getattr(settings, "COLLECTIONS_SMS_FILE", settings.VAR_DIR / "sms.jsonl"))
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as out:
            for m in messages:
                out.write(json.dumps({"key": m.key, "to": m.to, "text": m.text}, ensure_ascii=False) + "\n")
        return [Result(m.key, True, provider_id=f"file-{m.key}") for m in messages]


class HttpSmsBackend:
    """POST {url}/messages {"messages": [{"id", "to", "text"}]} with `Authorization: Bearer <key>`;
    the gateway answers {"results": [{"id", "status": "accepted"|"rejected", "provider_id", "error"}]}.
    Delivery receipts come back to /hooks/sms/http/."""

    name = "http"

    def __init__(self, url=None, key=None, timeout=None):
        self.url = (url or settings.COLLECTIONS_SMS_GATEWAY_URL).rstrip("/")
        self.key = key or settings.COLLECTIONS_SMS_GATEWAY_KEY
        self.timeout = timeout or settings.COLLECTIONS_SMS_GATEWAY_TIMEOUT

    def send(self, messages):
        body = json.dumps({"messages": [{"id": m.key, "to": m.to, "text": m.text} for m in messages]}).encode()
        request = urllib.request.Request(
            f"{self.url}/messages", data=body, method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.key}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            retryable = error.code >= 500 or error.code == 429
            return [Result(m.key, False, error=f"gateway HTTP {error.code}", retryable=retryable) for m in messages]
        except (urllib.error.URLError, TimeoutError, OSError, ValueError) as error:
            return [Result(m.key, False, error=f"gateway unreachable: {error}", retryable=True) for m in messages]
        by_key = {r.get("id"): r for r in answer.get("results", [])}
        results = []
        for m in messages:
            r = by_key.get(m.key)
            if r is None:
                results.append(Result(m.key, False, error="no answer for this message", retryable=True))
            elif r.get("status") == "accepted":
                results.append(Result(m.key, True, provider_id=str(r.get("provider_id", ""))))
            else:
                results.append(Result(m.key, False, error=str(r.get("error") or "rejected"), retryable=False))
        return results


class DjangoEmailBackend:
    name = "email"

    def send(self, messages):
        results = []
        with get_connection() as connection:
            for m in messages:
                try:
                    EmailMessage(m.subject, m.text, settings.DEFAULT_FROM_EMAIL, [m.to], connection=connection,
                                 headers={"X-Message-Key": m.key}).send()
                    results.append(Result(m.key, True, provider_id=f"email-{m.key}"))
                except Exception as error:  # noqa: BLE001 - any SMTP failure is retried
                    results.append(Result(m.key, False, error=f"e-mail failed: {error}", retryable=True))
        return results


def backend_for(channel):
    if channel == "email":
        return DjangoEmailBackend()
    return import_string(settings.COLLECTIONS_SMS_BACKEND)()
