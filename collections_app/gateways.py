"""Channel backends: how an outbound message leaves the building.

A backend takes a batch of `Outgoing` and answers one `Result` per message, yielding each as soon
as it has it (the dispatcher records it at once). SMS backends: console and file for development,
which keep a ledger of the keys already sent (COLLECTIONS_SMS_LEDGER) and skip them, and an HTTP
gateway (one JSON POST per message, bearer key, the message's idempotency key both as the message
id and as the `Idempotency-Key` header, so a resend after a crash is not delivered twice). E-mail
goes through Django's e-mail framework (EMAIL_BACKEND decides where)."""

import fcntl
import json
import logging
from contextlib import contextmanager
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


class _Ledger:
    """The keys a development backend has already sent, one per line in COLLECTIONS_SMS_LEDGER
    (empty: no ledger). Held under an exclusive file lock while a batch is sent, so two workers
    never both send a key; a key is added right after its message went out."""

    def __init__(self, path):
        self.path = Path(path) if path else None
        self.keys = set()
        self._file = None

    @contextmanager
    def held(self):
        if self.path is None:
            yield self
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a+", encoding="utf-8") as ledger:
            fcntl.flock(ledger, fcntl.LOCK_EX)
            try:
                ledger.seek(0)
                self.keys = {line.strip() for line in ledger if line.strip()}
                self._file = ledger
                yield self
            finally:
                self._file = None
                fcntl.flock(ledger, fcntl.LOCK_UN)

    def seen(self, key):
        return key in self.keys

    def add(self, key):
        self.keys.add(key)
        if self._file is not None:
            self._file.write(key + "\n")
            self._file.flush()


class _LedgerBackend:
    """Sends each message not in the ledger and answers it at once; a key already sent is answered
    accepted again (as a gateway that dedups by id would), without sending."""

    name = ""

    def send(self, messages):
        with _Ledger(getattr(settings, "COLLECTIONS_SMS_LEDGER", "")).held() as ledger:
            for m in messages:
                if ledger.seen(m.key):
                    log.info("sms %s already sent (ledger): skipped", m.key)
                else:
                    self.deliver(m)
                    ledger.add(m.key)
                yield Result(m.key, True, provider_id=f"{self.name}-{m.key}")

    def deliver(self, message):
        raise NotImplementedError


class ConsoleSmsBackend(_LedgerBackend):
    name = "console"

    def deliver(self, m):
        # Development output: the number is masked like everywhere else people can read it.
        print(f"[sms] to={mask_phone(m.to)} key={m.key} {m.text}", flush=True)


class FileSmsBackend(_LedgerBackend):
    """Appends one JSON line per message to a file (COLLECTIONS_SMS_FILE)."""

    name = "file"

    def deliver(self, m):
        path = Path(getattr(settings, "COLLECTIONS_SMS_FILE", settings.VAR_DIR / "sms.jsonl"))
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as out:
            out.write(json.dumps({"key": m.key, "to": m.to, "text": m.text}, ensure_ascii=False) + "\n")


class HttpSmsBackend:
    """POST {url}/messages {"messages": [{"id", "to", "text"}]} with `Authorization: Bearer <key>`
    and `Idempotency-Key: <the message's key>`, one message per request, so each answer is recorded
    as soon as it comes; the gateway answers
    {"results": [{"id", "status": "accepted"|"rejected", "provider_id", "error"}]}.
    Delivery receipts come back to /hooks/sms/http/."""

    name = "http"

    def __init__(self, url=None, key=None, timeout=None):
        self.url = (url or settings.COLLECTIONS_SMS_GATEWAY_URL).rstrip("/")
        self.key = key or settings.COLLECTIONS_SMS_GATEWAY_KEY
        self.timeout = timeout or settings.COLLECTIONS_SMS_GATEWAY_TIMEOUT

    def send(self, messages):
        down = None
        for m in messages:
            if down is not None:  # unreachable or failing: the rest wait for a retry, not a timeout each
                yield Result(m.key, False, error=down.error, retryable=True)
                continue
            for result in self._post([m], idempotency_key=m.key):
                if not result.ok and result.retryable:
                    down = result
                yield result

    def _post(self, messages, idempotency_key):
        body = json.dumps({"messages": [{"id": m.key, "to": m.to, "text": m.text} for m in messages]}).encode()
        request = urllib.request.Request(
            f"{self.url}/messages",
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {self.key}",
                "Idempotency-Key": idempotency_key,
            },
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
        with get_connection() as connection:
            for m in messages:
                try:
                    EmailMessage(
                        m.subject,
                        m.text,
                        settings.DEFAULT_FROM_EMAIL,
                        [m.to],
                        connection=connection,
                        headers={"X-Message-Key": m.key},
                    ).send()
                    result = Result(m.key, True, provider_id=f"email-{m.key}")
                except Exception as error:  # noqa: BLE001 - any SMTP failure is retried
                    result = Result(m.key, False, error=f"e-mail failed: {error}", retryable=True)
                yield result


def backend_for(channel):
    if channel == "email":
        return DjangoEmailBackend()
    return import_string(settings.COLLECTIONS_SMS_BACKEND)()
