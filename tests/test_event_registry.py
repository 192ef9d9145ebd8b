"""Issue 10, point 5: one registry of case-event kinds (collections_app/events.py) that the timeline,
the webhook outbox (Python and SQL) and the sweep's statements read."""

import ast
import pathlib
import re

import pytest

from collections_app import events as registry
from collections_app.models import CaseEvent, LegalReferral, PromiseToPay
from collections_app.models.webhooks import WEBHOOK_EVENT_TYPES

APP = pathlib.Path(__file__).resolve().parent.parent / "collections_app"
WRITERS = {"event_write", "event_build", "_announce_on_open_cases", "_announce_marker"}  # (case, kind, actor, ...)
# Write sites whose kind is a variable, and where its values come from.
DYNAMIC = {
    ("services/events.py", "event_write"),  # passes its caller's kind on to event_build
    ("services/holds.py", "_announce_on_open_cases"),  # its callers pass literals (scanned)
    ("services/vulnerability.py", "_announce_marker"),  # its callers pass literals (scanned)
    ("services/reminders/dispatch.py", "_record"),  # reminders._FINAL's values
    ("services/plans/decide.py", "plan_end"),  # f"plan_{status}": its callers pass PlanStatus members
}
# f"<prefix>{model.status}": the statuses of the model's choices that the code writes.
PLAN_WEBHOOK_STATUSES = ("proposed", "activated", "declined", "expired", "broken", "kept", "cancelled")
FAMILIES = {
    "legal_referral_": LegalReferral.Status.values,
    "promise_": [s for s in PromiseToPay.Status.values if s != PromiseToPay.Status.PENDING],
}


def _kinds_the_code_writes():
    """Every kind a write site in collections_app can pass: literals, f-strings over a model's
    status choices, the sweep's `{kind[...]}` SQL, the demo's event tuples and the reminders' map."""
    from collections_app.services.reminders import dispatch as reminders

    kinds, unresolved = set(reminders._FINAL.values()), []
    for path in APP.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        text = path.read_text()
        kinds.update(re.findall(r"\{kind\[(\w+)\]\}", text))
        tree = ast.parse(text)
        for scope in ast.walk(tree):
            if not isinstance(scope, (ast.FunctionDef, ast.Module)):
                continue
            for node in ast.walk(scope):
                if not isinstance(node, ast.Call):
                    continue
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name in WRITERS and len(node.args) >= 2:
                    arg = node.args[1]
                elif (
                    name == "append"
                    and node.args
                    and isinstance(node.args[0], ast.Tuple)
                    and getattr(node.func.value, "id", None) == "ev"
                    and len(node.args[0].elts) > 1
                ):
                    arg = node.args[0].elts[1]  # demo data: ev.append((at, kind, actor, ...))
                else:
                    continue
                if isinstance(arg, ast.Constant):
                    kinds.add(arg.value)
                elif (
                    isinstance(arg, ast.JoinedStr)
                    and isinstance(arg.values[0], ast.Constant)
                    and arg.values[0].value in FAMILIES
                ):
                    prefix = arg.values[0].value
                    kinds.update(prefix + status for status in FAMILIES[prefix])
                elif isinstance(scope, ast.FunctionDef):
                    unresolved.append((str(path.relative_to(APP)), scope.name))
    return kinds, unresolved


def test_every_kind_the_code_can_write_has_a_registry_entry():
    kinds, unresolved = _kinds_the_code_writes()
    assert set(unresolved) <= DYNAMIC, "a kind computed at a new place: teach this test where it comes from"
    assert {"opened", "transition", "promise_broken", "legal_referral_approved", "message_sent"} <= kinds
    assert kinds - set(registry.KINDS) == set()


@pytest.mark.parametrize("code", sorted(registry.KINDS))
def test_every_entry_has_a_label_a_sentence_and_a_webhook_decision(code):
    kind = registry.KINDS[code]
    assert kind.code == code
    assert str(kind.label).strip()
    event = CaseEvent(kind=code, actor="system", reason="why", payload={})
    assert isinstance(kind.sentence(event), str)
    if kind.title is not None:
        assert kind.title(event).strip()
    assert kind.webhook is registry.NO_WEBHOOK or isinstance(kind.webhook, registry.Webhook)
    if kind.webhook is not registry.NO_WEBHOOK:
        assert kind.webhook.type in WEBHOOK_EVENT_TYPES
        assert kind.webhook.sql.startswith("jsonb_build_object(")
        assert isinstance(kind.webhook.data(event), dict)


def test_the_kinds_subscribers_are_told_of():
    assert {code: w.type for code, w in registry.webhook_kinds().items()} == {
        "opened": "case.state_changed",
        "transition": "case.state_changed",
        "assigned": "case.assigned",
        "payment_recorded": "payment.recorded",
        "promise_broken": "promise.broken",
        **{f"plan_{status}": f"plan.{status}" for status in PLAN_WEBHOOK_STATUSES},
    }
    assert set(registry.webhook_types()) == set(WEBHOOK_EVENT_TYPES)


def test_the_webhook_outbox_reads_the_registry():
    from collections_app.services import webhooks
    from collections_app.services.webhooks import outbox

    assert not hasattr(webhooks, "KIND_TO_TYPE")
    assert not hasattr(outbox, "KIND_TO_TYPE")
    sql = webhooks.pg_outbox_cte("ev")
    for code, webhook in registry.webhook_kinds().items():
        assert f"('{code}', '{webhook.type}')" in sql
        assert webhook.sql in sql


def test_the_timeline_reads_the_registry():
    from collections_app import timeline

    assert not hasattr(timeline, "KIND_LABELS")
    assert timeline.describe(CaseEvent(kind="note_added", reason="called back")) == ("Note", "called back")
    assert timeline.describe(CaseEvent(kind="made_up", reason="r")) == ("made_up", "r")


def test_the_sweeps_sql_names_only_registered_kinds():
    from collections_app.services.sweep import base as sweep

    source = "".join(p.read_text() for p in sorted((APP / "services" / "sweep").glob("*.py")))
    assert re.findall(r"INSERT INTO \{CaseEvent\}[^;]*?SELECT \w+, '\w+'", source) == []  # no literal kinds
    assert registry.SqlKinds()["opened"] == "'opened'"
    with pytest.raises(KeyError):
        registry.SqlKinds()["made_up"]
    assert "'promise_broken'" in sweep._sql("SELECT {kind[promise_broken]}")


@pytest.mark.django_db
def test_writing_an_unregistered_kind_is_refused():
    from collections_app.services.events import event_build

    with pytest.raises(ValueError, match="made_up"):
        event_build(1, "made_up", None)


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_sweeps_sql_bodies_equal_the_services_bodies_for_every_webhook_kind():
    """The registry's two forms of a type's `data` (Python for the services, SQL for the sweep)
    give the same body, field for field, for every kind subscribers are told of."""
    from django.db import connection
    from django.utils import timezone

    from collections_app.models import WebhookDelivery
    from collections_app.services import webhooks

    from .factories import overdue_case

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (set DATABASE_URL=postgres://...)")
    case = overdue_case(days_overdue=10)
    payloads = {
        "opened": {"dpd": 10, "amount_overdue": "100.00"},
        "transition": {"transition": "start_calls", "dpd": 9},
        "assigned": {"from_user": None, "to_user": "collector", "from_queue": "M1", "to_queue": "M1"},
        "payment_recorded": {
            "external_id": "P-7",
            "amount": "12.50",
            "channel": "bank",
            "paid_at": "2026-11-30T10:00:00.123456+08:00",
            "unapplied": "0.00",
        },
        "promise_broken": {"promise_id": 4, "amount": "50.00"},
        **{
            f"plan_{status}": {
                "plan_id": 3,
                "kind": "settlement",
                "status": status,
                "total": "850.00",
                "discount": "150.00",
                "instalments": 2,
                "first_due_date": "2026-12-10",
                "last_due_date": "2027-01-10",
            }
            for status in PLAN_WEBHOOK_STATUSES
        },
    }
    assert set(payloads) == set(registry.webhook_kinds())
    made = []
    for kind, payload in payloads.items():
        event = CaseEvent(
            case=case,
            kind=kind,
            actor="system",
            from_state="reminder" if kind == "transition" else "",
            to_state="call",
            reason="sweep",
            payload=payload,
        )
        event.save(force_insert=True)  # not through the services: no Python-built delivery yet
        made.append(event)
    made.append(CaseEvent(case=case, kind="transition", actor="user:x", to_state="call", payload={}))
    made[-1].save(force_insert=True)  # a transition without a name: null, as in Python
    webhooks.webhook_subscription_create(url="https://receiver.example/hook", event_types=list(WEBHOOK_EVENT_TYPES))
    WebhookDelivery.objects.all().delete()

    statement = f"""WITH ev AS (SELECT id, case_id, kind, actor, from_state, to_state, reason, payload, at
                                FROM {CaseEvent._meta.db_table} WHERE id = ANY(%(ids)s)), {webhooks.pg_outbox_cte("ev")}
                    SELECT count(*) FROM ev"""
    with connection.cursor() as cursor:
        cursor.execute(statement, {"ids": [e.pk for e in made], "now": timezone.now()})

    by_key = {d.event_key: d for d in WebhookDelivery.objects.all()}
    assert len(by_key) == len(made)
    for event in made:
        event.refresh_from_db()
        webhook = registry.webhook_of(event.kind)
        key = webhooks.event_id(event.pk)
        expected = webhooks.envelope(
            key, webhook.type, event.at, webhooks.event_data(event, webhook, case.loan.external_id)
        )
        assert by_key[key].event_type == webhook.type
        assert by_key[key].payload == expected, event.kind
