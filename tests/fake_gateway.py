"""A small fake SMS gateway speaking the protocol of `gateways.HttpSmsBackend`, on 127.0.0.1.

    POST /messages  {"messages": [{"id", "to", "text"}]}   Authorization: Bearer <key>
    -> 200 {"results": [{"id", "status": "accepted"|"rejected", "provider_id", "error"}]}

It records every request it received (even the ones it answers with an error), delivers each
message id once (an id seen before is accepted again with the same provider_id, not delivered
twice), and can be told to fail: answer an HTTP status (`fail_with(500)`), reject given ids
(`reject("id", ...)`), or be down (`down()`: the port refuses connections until `up()`).
"""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class FakeSmsGateway:
    def __init__(self, key="gateway-test-key"):
        self.key = key
        self.lock = threading.Lock()
        self.requests = []  # {"authorization", "idempotency_key", "messages", "answered"} per POST, in order
        self.delivered = {}  # message id -> {"to", "text", "provider_id"}, each id once
        self.rejected_ids = set()
        self.fail_status = None
        self.fail_times = None  # None: every request while fail_status is set
        self.port = 0
        self._server = None
        self._thread = None

    # --- control ----------------------------------------------------------------------------

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def start(self):
        gateway = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep the test output quiet
                pass

            def do_POST(self):  # noqa: N802 - http.server's naming
                gateway._handle(self)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def down(self):
        """Stop listening: connections to the port are refused."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = self._thread = None

    def up(self):
        """Listen again, on the same port."""
        if self._server is None:
            self.start()

    stop = down

    def fail_with(self, status, times=None):
        """Answer `status` (e.g. 500) to the next `times` requests (None: until told otherwise)."""
        with self.lock:
            self.fail_status, self.fail_times = status, times

    def heal(self):
        with self.lock:
            self.fail_status, self.fail_times = None, None
            self.rejected_ids.clear()

    def reject(self, *ids):
        with self.lock:
            self.rejected_ids.update(ids)

    # --- what it saw ------------------------------------------------------------------------

    @property
    def received_ids(self):
        """Every message id received, in order, repeats included."""
        with self.lock:
            return [m.get("id") for r in self.requests for m in r["messages"]]

    @property
    def delivered_ids(self):
        with self.lock:
            return list(self.delivered)

    # --- the protocol -----------------------------------------------------------------------

    def _answer(self, handler, status, body):
        data = json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    def _handle(self, handler):
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        authorization = handler.headers.get("Authorization", "")
        try:
            body = json.loads(raw or b"{}")
            messages = body["messages"]
            if not isinstance(messages, list):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            body, messages = None, []
        with self.lock:
            record = {
                "path": handler.path,
                "authorization": authorization,
                "messages": messages,
                "answered": None,
                "idempotency_key": handler.headers.get("Idempotency-Key"),
            }
            self.requests.append(record)
            if handler.path != "/messages":
                record["answered"] = 404
            elif authorization != f"Bearer {self.key}":
                record["answered"] = 401
            elif body is None:
                record["answered"] = 400
            elif self.fail_status is not None:
                record["answered"] = self.fail_status
                if self.fail_times is not None:
                    self.fail_times -= 1
                    if self.fail_times <= 0:
                        self.fail_status = self.fail_times = None
            else:
                record["answered"] = 200
                results = [self._accept_or_reject(m) for m in messages]
        if record["answered"] != 200:
            self._answer(handler, record["answered"], {"error": f"fake gateway says {record['answered']}"})
            return
        self._answer(handler, 200, {"results": results})

    def _accept_or_reject(self, message):
        """Called with the lock held."""
        mid = message.get("id")
        if mid in self.rejected_ids:
            return {"id": mid, "status": "rejected", "provider_id": "", "error": "number blocked by carrier"}
        seen = self.delivered.get(mid)
        if seen is None:
            seen = {
                "to": message.get("to"),
                "text": message.get("text"),
                "provider_id": f"gw-{len(self.delivered) + 1}",
            }
            self.delivered[mid] = seen
        return {"id": mid, "status": "accepted", "provider_id": seen["provider_id"], "error": ""}


@pytest.fixture
def sms_gateway():
    """A running fake gateway (see the module docstring); stopped after the test."""
    gateway = FakeSmsGateway().start()
    yield gateway
    gateway.down()


@pytest.fixture
def http_sms(settings, sms_gateway):
    """Switch the SMS channel to the HTTP backend, pointed at the fake gateway."""
    settings.COLLECTIONS_SMS_BACKEND = "collections_app.gateways.HttpSmsBackend"
    settings.COLLECTIONS_SMS_GATEWAY_URL = sms_gateway.url
    settings.COLLECTIONS_SMS_GATEWAY_KEY = sms_gateway.key
    settings.COLLECTIONS_SMS_GATEWAY_TIMEOUT = 3
    settings.COLLECTIONS_SMS_RECEIPT_SECRETS = {"http": "receipt-test-secret"}
    return sms_gateway
