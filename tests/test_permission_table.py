"""The table of abilities (permissions.ABILITIES) against CONTRACT.md's "Who may do what", cell by
cell, for every role, the system, a borrower and every API scope; and the doors (pages, API) refusing
a field agent the collector's work while letting them record contacts and visits on their own
visit cases."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from collections_app import permissions as perms
from collections_app import roles as r
from collections_app import services
from collections_app.actors import SYSTEM, Actor, actor_for_client
from collections_app.calendar import lender_today
from collections_app.models import ContactAttempt, LegalReferral, OutboundMessage, PromiseToPay

from .factories import BorrowerFactory, UserFactory, assigned_case, fresh
from .helpers import refused

# CONTRACT.md's table, copied as it stands (the test reads it; the code must agree with it).
CONTRACT_TABLE = """
| see a case | own | own visits | all | legal + waiting decisions | all | all | all | own case | `cases:read` |
| record a contact, add a note | own | own visits | all | notes | | all | | | `cases:write` |
| promise to pay | own | | all | | | all | | own (policy) | `cases:write` |
| send a message | own | | all | | | all | reminders | | `cases:write` |
| `start_calls`, `schedule_visit` | own | | all | | | all | sweep | | `cases:write` |
| request a legal referral | own | | all | | | all | sweep | | `cases:write` |
| decide a legal referral (`refer_to_legal`) | | | all | legal | | all | | | `cases:manage` |
| plan a visit (its agents) | | | all | | | all | | | `cases:manage` |
| record a visit | | own visits | all | | | all | | | `cases:write` |
| `de_escalate`, assign, distribute | | | all | | | all | queue routing | | `cases:manage` |
| `close` | | | all | | | all | kept settlement | | `cases:manage` |
| place / lift a staff hold | dispute (via outcome) | | all | legal | | all | | dispute | `cases:manage` |
| reveal personal data (audited) | own | own visits | all | legal | all | all | | | `pii:read` |
| propose a plan | own (collector authority) | | all | legal | | all | | own (self-service authority) | `cases:write` (collector authority) |
| decide a waiting plan | within authority | | within authority | within authority | | all | expiry | | `plans:decide` (supervisor authority) |
| cancel a plan | own proposals | | all | legal | | all | resolve, close | | `cases:write` |
| set a vulnerability marker | own | own visits | all | legal | | all | | hardship (for review) | `cases:write` |
| import files | | | all | | | all | | | `loans:write` (the loan book API) |
| dashboard | | | all | | all | all | | | |
| exports | own worklist, own cases' timelines | | all | | dashboard, audit log | all | | | |
| webhooks; API clients; `/admin/` | | | | | | all | | | `webhooks:manage` (own subscriptions only) |
"""
COLUMNS = (r.COLLECTOR, r.FIELD_AGENT, r.SUPERVISOR, r.LEGAL_OFFICER, r.AUDITOR, r.ADMIN, "system", "borrower", "scope")

# Each contract row and the abilities it names.
ROW_ABILITIES = {
    "see a case": [perms.SEE_CASE],
    "record a contact, add a note": [perms.CONTACT_RECORD, perms.NOTE_ADD],
    "promise to pay": [perms.PROMISE_RECORD],
    "send a message": [perms.MESSAGE_SEND],
    "`start_calls`, `schedule_visit`": [perms.ESCALATE],
    "request a legal referral": [perms.LEGAL_REQUEST],
    "decide a legal referral (`refer_to_legal`)": [perms.LEGAL_DECIDE],
    "plan a visit (its agents)": [perms.VISIT_PLAN],
    "record a visit": [perms.VISIT_RECORD],
    "`de_escalate`, assign, distribute": [perms.DE_ESCALATE, perms.ASSIGN],
    "`close`": [perms.CASE_CLOSE],
    "place / lift a staff hold": [perms.HOLD_PLACE],
    "reveal personal data (audited)": [perms.PII_REVEAL],
    "propose a plan": [perms.PLAN_PROPOSE],
    "decide a waiting plan": [perms.PLAN_DECIDE],
    "cancel a plan": [perms.PLAN_CANCEL],
    "set a vulnerability marker": [perms.VULNERABILITY_SET],
    "import files": [perms.BOOK_IMPORT],
    "dashboard": [perms.DASHBOARD_VIEW],
    "exports": [perms.EXPORT_CASES, perms.EXPORT_REPORTS],
    "webhooks; API clients; `/admin/`": [perms.OPERATE],
}
# Cells that grant part of a row only (the contract's words, read once here).
PARTIAL = {
    ("record a contact, add a note", r.LEGAL_OFFICER): {perms.NOTE_ADD},  # "notes"
    ("`de_escalate`, assign, distribute", "system"): {perms.ASSIGN},  # "queue routing"
    # A collector's dispute hold is placed by the contact service on a `dispute_raised` outcome.
    ("place / lift a staff hold", r.COLLECTOR): set(),
    ("exports", r.COLLECTOR): {perms.EXPORT_CASES},  # "own worklist, own cases' timelines"
    ("exports", r.AUDITOR): {perms.EXPORT_REPORTS},  # "dashboard, audit log"
}


def _parse():
    table = {}
    for line in CONTRACT_TABLE.strip().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        table[cells[0]] = dict(zip(COLUMNS, cells[1:], strict=True))
    return table


def expected():
    """(column, ability) -> granted, from the contract's words."""
    out = {}
    for row, cells in _parse().items():
        for column, text in cells.items():
            for ability in ROW_ABILITIES[row]:
                granted = bool(text)
                if (row, column) in PARTIAL:
                    granted = ability in PARTIAL[(row, column)]
                out[(column, ability)] = granted
    return out


EXPECTED = expected()
# Abilities of the table that are not a contract row of their own (tested by hand below).
EXTRA = {perms.PAYMENT_RECORD, perms.AUDIT_LOG_READ, perms.VULNERABLE_ESCALATE}


def test_the_table_names_every_ability_once_and_covers_the_contract():
    named = [a for abilities in ROW_ABILITIES.values() for a in abilities]
    assert len(named) == len(set(named))
    # Every ability of the contract is in the table; the table adds only payments (not a row there)
    # and the audit log (the auditors' part of the "exports" row, not a supervisor's: EXTRA below).
    assert set(perms.ABILITIES) - set(named) == EXTRA
    assert r.SCOPE_PLANS_DECIDE in r.ALL_SCOPES


def _person(role):
    return Actor(label=f"user:{role}", user=object(), roles=frozenset({role}))


@pytest.mark.parametrize("role", r.ALL_ROLES)
@pytest.mark.parametrize("ability", sorted(set(perms.ABILITIES) - EXTRA))
def test_each_role_has_exactly_the_contracts_abilities(role, ability):
    assert perms.may(_person(role), ability) is EXPECTED[(role, ability)]


@pytest.mark.parametrize("ability", sorted(set(perms.ABILITIES) - EXTRA))
def test_the_system_and_a_borrower_have_exactly_the_contracts_abilities(ability):
    assert perms.may(SYSTEM, ability) is EXPECTED[("system", ability)]
    borrower = Actor(label="borrower:B-1")
    assert perms.may(borrower, ability) is EXPECTED[("borrower", ability)]


def _scope_of(text):
    return text.split("`")[1] if "`" in text else None


@pytest.mark.parametrize("scope", r.ALL_SCOPES)
@pytest.mark.parametrize("row", list(ROW_ABILITIES))
def test_each_scope_grants_exactly_the_contracts_abilities(scope, row):
    wanted = _scope_of(_parse()[row]["scope"])
    client = actor_for_client("c", [scope])
    for ability in ROW_ABILITIES[row]:
        assert perms.may(client, ability) is (wanted == scope), (row, ability)


def test_the_audit_log_is_read_by_auditors_and_admins_only():
    assert {role for role in r.ALL_ROLES if perms.may(_person(role), perms.AUDIT_LOG_READ)} == {r.AUDITOR, r.ADMIN}
    assert not perms.may(SYSTEM, perms.AUDIT_LOG_READ)
    assert not perms.may(Actor(label="borrower:B-1"), perms.AUDIT_LOG_READ)
    assert not any(perms.may(actor_for_client("c", [s]), perms.AUDIT_LOG_READ) for s in r.ALL_SCOPES)


def test_payments_are_recorded_by_supervisors_the_system_and_payments_write_only():
    assert {role for role in r.ALL_ROLES if perms.may(_person(role), perms.PAYMENT_RECORD)} == {r.SUPERVISOR, r.ADMIN}
    assert perms.may(SYSTEM, perms.PAYMENT_RECORD)
    assert {s for s in r.ALL_SCOPES if perms.may(actor_for_client("c", [s]), perms.PAYMENT_RECORD)} == {
        r.SCOPE_PAYMENTS_WRITE
    }


def test_an_unknown_ability_is_a_programming_error():
    with pytest.raises(ValueError):
        perms.may(SYSTEM, "case.teleport")


# --- "own": the row scope ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_own_means_within_the_row_scope(collector, other_collector, supervisor):
    mine = assigned_case(to=collector, by=supervisor)
    theirs = assigned_case(to=other_collector, by=supervisor)
    assert perms.may(collector, perms.PROMISE_RECORD, mine)
    assert not perms.may(collector, perms.PROMISE_RECORD, theirs)
    assert perms.may(supervisor, perms.PROMISE_RECORD, theirs)


# --- a field agent at every door ----------------------------------------------------------------------


@pytest.fixture
def visit_case(db, collector, supervisor, field_agent, field_agent2):
    borrower = BorrowerFactory(phones=["13912345678"], consent_after_hours=True)
    case = assigned_case(to=collector, by=supervisor, days_overdue=40, borrower=borrower)
    assert case.state == "visit"
    visit = services.visit_schedule(
        case_id=case.pk,
        actor=supervisor,
        scheduled_for=timezone.now() + timedelta(hours=1),
        agents=[field_agent, field_agent2],
    )
    case.visit = visit
    return case


def test_field_agent_is_refused_promises_messages_and_referrals_by_the_services(visit_case, field_agent):
    with refused("permission_denied"):
        services.promise_record(
            case_id=visit_case.pk, actor=field_agent, amount="100.00", due_date=lender_today() + timedelta(days=3)
        )
    with refused("permission_denied"):
        from collections_app.services.reminders import message_request

        message_request(case_id=visit_case.pk, actor=field_agent, channel="sms", template="overdue")
    with refused("permission_denied"):
        services.legal_referral_request(case_id=visit_case.pk, actor=field_agent, reason="refuses")
    assert not PromiseToPay.objects.exists() and not OutboundMessage.objects.exists()
    assert not LegalReferral.objects.exists()


def test_field_agent_still_records_contacts_notes_and_their_visit(visit_case, field_agent):
    services.contact_log(case_id=visit_case.pk, actor=field_agent, channel="call", outcome="no_answer")
    services.note_add(case_id=visit_case.pk, actor=field_agent, text="gate locked")
    services.visit_record(visit_id=visit_case.visit.pk, actor=field_agent, outcome="not_home")
    assert ContactAttempt.objects.filter(case=visit_case, actor="user:field_agent").count() == 2


def test_field_agent_may_not_record_a_visit_they_are_not_on(visit_case, supervisor):
    other = UserFactory(username="field_agent3", roles=[r.FIELD_AGENT])
    stranger = UserFactory(username="field_agent4", roles=[r.FIELD_AGENT])
    services.visit_schedule(
        case_id=visit_case.pk,
        actor=supervisor,
        scheduled_for=timezone.now() + timedelta(hours=2),
        agents=[other, stranger],
    )
    # field_agent3 sees the case (a visit of theirs) but not the first visit, which is not theirs.
    with refused("permission_denied"):
        services.visit_record(visit_id=visit_case.visit.pk, actor=other, outcome="not_home")


def test_field_agent_pages_offer_and_accept_only_their_work(client, visit_case, field_agent):
    client.force_login(field_agent)
    page = client.get(reverse("collections:case", args=[visit_case.pk])).content.decode()
    assert reverse("collections:case-log-contact", args=[visit_case.pk]) in page
    assert reverse("collections:case-note", args=[visit_case.pk]) in page
    for name in ("collections:case-promise", "collections:case-message", "collections:case-legal-referral"):
        assert reverse(name, args=[visit_case.pk]) not in page, name

    due = lender_today() + timedelta(days=3)
    response = client.post(
        reverse("collections:case-promise", args=[visit_case.pk]), {"amount": "100.00", "due_date": due.isoformat()}
    )
    assert response.status_code == 403
    response = client.post(
        reverse("collections:case-message", args=[visit_case.pk]), {"template": "overdue", "schedule": "now"}
    )
    assert response.status_code == 403
    response = client.post(reverse("collections:case-legal-referral", args=[visit_case.pk]), {"reason": "refuses"})
    assert response.status_code == 403
    assert not PromiseToPay.objects.exists() and not OutboundMessage.objects.exists()
    assert not LegalReferral.objects.exists()

    response = client.post(
        reverse("collections:case-log-contact", args=[visit_case.pk]),
        {"channel": "visit", "direction": "outbound", "outcome": "no_answer"},
    )
    assert response.status_code == 302
    assert ContactAttempt.objects.filter(case=visit_case).count() == 1


def test_field_agent_is_refused_promises_and_messages_over_the_api(client, visit_case, field_agent):
    client.force_login(field_agent)
    due = lender_today() + timedelta(days=3)
    response = client.post(
        f"/api/v1/cases/{visit_case.pk}/promises/",
        {"amount": "100.00", "due_date": due.isoformat()},
        content_type="application/json",
    )
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    response = client.post(
        f"/api/v1/cases/{visit_case.pk}/messages/",
        {"channel": "sms", "template": "overdue"},
        content_type="application/json",
    )
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    response = client.post(
        f"/api/v1/cases/{visit_case.pk}/contacts/",
        {"channel": "visit", "outcome": "no_answer"},
        content_type="application/json",
    )
    assert response.status_code == 201
    assert not PromiseToPay.objects.exists() and not OutboundMessage.objects.exists()


def test_the_case_page_uses_the_abilities_not_role_names(visit_case, collector, auditor, supervisor):
    can = perms.case_abilities(collector, fresh(visit_case))
    assert can["promise"] and can["send_message"] and can["request_legal"] and not can["plan_visit"]
    can = perms.case_abilities(auditor, fresh(visit_case))
    assert not any(v for k, v in can.items() if k != "reveal") and can["reveal"]
    can = perms.case_abilities(supervisor, fresh(visit_case))
    assert can["plan_visit"] and can["close"] and can["assign"]


@pytest.mark.parametrize(
    "who, status", [("collector", 200), ("supervisor", 200), ("field_agent", 403), ("auditor", 403)]
)
def test_timeline_exports_follow_the_table(who, status, client, actor_named, visit_case):
    # Exports: "own worklist, own cases' timelines" for collectors, "dashboard, audit log" for auditors.
    client.force_login(actor_named(who))
    response = client.get(reverse("collections:export-timeline", args=[visit_case.pk, "csv"]))
    assert response.status_code == status
    page = client.get(reverse("collections:case", args=[visit_case.pk])).content.decode()
    assert ('data-testid="timeline-exports"' in page) == (status == 200)


def test_everywhere_means_an_all_cell_not_an_own_one():
    """Portfolio-wide pages and exports (a queue's list, /holds/) ask for the ability on every row."""
    everywhere = {role for role in r.ALL_ROLES if perms.may_everywhere(_person(role), perms.HOLD_PLACE)}
    assert everywhere == {r.SUPERVISOR, r.ADMIN}
    assert perms.may(_person(r.LEGAL_OFFICER), perms.HOLD_PLACE)  # on their own cases only
    assert {role for role in r.ALL_ROLES if perms.may_everywhere(_person(role), perms.EXPORT_CASES)} == {
        r.SUPERVISOR,
        r.ADMIN,
    }
    assert perms.may_everywhere(SYSTEM, perms.ASSIGN)
    assert not perms.may_everywhere(Actor(label="borrower:B-1"), perms.HOLD_PLACE)


def test_the_api_door_asks_the_table():
    """A client passes the door with a scope granting the view's ability; a person with any role."""
    assert perms.may_use_api(actor_for_client("c", [r.SCOPE_CASES_WRITE]), perms.CONTACT_RECORD)
    assert not perms.may_use_api(actor_for_client("c", [r.SCOPE_CASES_READ]), perms.CONTACT_RECORD)
    assert perms.may_use_api(actor_for_client("c", []), None)
    assert all(perms.may_use_api(_person(role), perms.VISIT_PLAN) for role in r.ALL_ROLES)
    assert not perms.may_use_api(Actor(label="user:nobody", user=object()), perms.SEE_CASE)
    assert perms.api_unmasks_pii(actor_for_client("c", [r.SCOPE_PII_READ]))
    assert not perms.api_unmasks_pii(_person(r.SUPERVISOR))
    assert perms.scopes_granting(perms.SEE_CASE, perms.PAYMENT_RECORD) == {r.SCOPE_CASES_READ, r.SCOPE_PAYMENTS_WRITE}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "role, holds, audit_log",
    [
        (r.COLLECTOR, 404, 403),
        (r.FIELD_AGENT, 404, 403),
        (r.SUPERVISOR, 200, 403),
        (r.LEGAL_OFFICER, 404, 403),
        (r.AUDITOR, 404, 200),
        (r.ADMIN, 200, 200),
    ],
)
def test_pages_admit_whom_the_table_says(role, holds, audit_log, client):
    client.force_login(UserFactory(username=f"pages-{role}", roles=[role]))
    assert client.get(reverse("collections:holds")).status_code == holds
    assert client.get(reverse("collections:audit-log")).status_code == audit_log
