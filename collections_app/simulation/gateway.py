"""The simulation's gateway for SMS and e-mail: every message accepted at once, nothing printed,
nothing written. It answers a list, so the dispatcher records a whole batch together
(services/reminders/dispatch.py) rather than one transaction per message."""

from ..gateways import Result


class QuietBackend:
    name = "simulated"

    def send(self, messages):
        return [Result(m.key, True, provider_id=f"sim-{m.key}") for m in messages]


def quiet_backend_for(channel):
    return QuietBackend()
