"""A channel backend that accepts everything and does nothing: the dispatcher's own cost, without a
gateway's. Set through settings.COLLECTIONS_SMS_BACKEND = "bench.backends.NullSmsBackend"."""

from collections_app.gateways import Result


class NullSmsBackend:
    name = "null"
    sent = 0  # messages accepted by all instances in this process

    def send(self, messages):
        NullSmsBackend.sent += len(messages)
        return [Result(m.key, True, provider_id=f"null-{m.key}") for m in messages]
