"""Who may do what, and which cases they may see: the one table of abilities and one question.

One piece on purpose, though over 400 lines: the table (`ABILITIES`) and `may()` are read together,
so splitting them would make a reader hold two files to answer one question.

`ABILITIES` is CONTRACT.md's "Who may do what" as data: for each ability, a cell per role (people),
one for the system, one for a borrower on their self-service page and the API scope a client needs.
`may(actor, ability, obj=None)` is the only question every door and service asks:

- without `obj`: does the actor have the ability anywhere (a role, the system, a scope)?
- with `obj` (a case, a visit, a borrower): also on that row. "own" cells are the row scope of
  `visible_cases` (a collector's own and queue cases, a field agent's visit cases, a legal officer's
  legal cases); for a visit, "own" means the actor is one of its agents.

The transition predicates below are django-fsm `permission=` callables, (case, actor) -> bool, and
the older `may_*` predicates are thin wrappers over `may()` so callers keep working.
Visibility is separate (`visible_cases`): a service first finds the case through the actor's
scope (404 otherwise), then asks whether the actor may act on it. `case_abilities(actor, case)`
answers the case page: what this actor may do on this case now.
"""

from django.db.models import Exists, OuterRef, Q

from . import roles as r
from .actors import as_actor

# --- the abilities --------------------------------------------------------------------------------
SEE_CASE = "case.see"
CONTACT_RECORD = "contact.record"
NOTE_ADD = "note.add"
PROMISE_RECORD = "promise.record"
MESSAGE_SEND = "message.send"
ESCALATE = "case.escalate"  # start_calls, schedule_visit
LEGAL_REQUEST = "legal.request"
LEGAL_DECIDE = "legal.decide"  # refer_to_legal through an approved referral
VISIT_PLAN = "visit.plan"
VISIT_RECORD = "visit.record"
DE_ESCALATE = "case.de_escalate"
ASSIGN = "case.assign"  # assign, distribute evenly
CASE_CLOSE = "case.close"
HOLD_PLACE = "hold.place"  # place or lift a staff hold
PII_REVEAL = "pii.reveal"
PLAN_PROPOSE = "plan.propose"
PLAN_DECIDE = "plan.decide"
PLAN_CANCEL = "plan.cancel"
VULNERABILITY_SET = "vulnerability.set"
BOOK_IMPORT = "book.import"
DASHBOARD_VIEW = "dashboard.view"
EXPORT_CASES = "export.cases"  # the worklist, a queue, a case's timeline
EXPORT_REPORTS = "export.reports"  # the dashboard's tables, the audit log
OPERATE = "operate"  # webhooks, API clients, /admin/
AUDIT_LOG_READ = "audit_log.read"  # not a row of its own there: see the table's comment
PAYMENT_RECORD = "payment.record"  # not in the contract's table: the loan system's door
# Not a row of its own there: the vulnerability marker's "a supervisor may, by hand, with a reason"
# (move a vulnerable borrower's case to `visit`, request a legal referral for it).
VULNERABLE_ESCALATE = "vulnerable.escalate"

# Cell values. People: ALL (every row they may see) or OWN (within their row scope); a missing
# cell is no. SYSTEM and BORROWER cells are True or OWN; SCOPE is the scope string.
ALL = "all"
OWN = "own"
SYSTEM = "system"
BORROWER = "borrower"
SCOPE = "scope"

C, F, S, L, A, AD = r.COLLECTOR, r.FIELD_AGENT, r.SUPERVISOR, r.LEGAL_OFFICER, r.AUDITOR, r.ADMIN

ABILITIES = {
    SEE_CASE: {C: OWN, F: OWN, S: ALL, L: OWN, A: ALL, AD: ALL, SYSTEM: True, BORROWER: OWN, SCOPE: r.SCOPE_CASES_READ},
    # Legal officers add notes but do not record contacts ("notes" in the contract's cell).
    CONTACT_RECORD: {C: OWN, F: OWN, S: ALL, AD: ALL, SCOPE: r.SCOPE_CASES_WRITE},
    NOTE_ADD: {C: OWN, F: OWN, S: ALL, L: OWN, AD: ALL, SCOPE: r.SCOPE_CASES_WRITE},
    PROMISE_RECORD: {C: OWN, S: ALL, AD: ALL, BORROWER: OWN, SCOPE: r.SCOPE_CASES_WRITE},
    MESSAGE_SEND: {C: OWN, S: ALL, AD: ALL, SYSTEM: True, SCOPE: r.SCOPE_CASES_WRITE},
    ESCALATE: {C: OWN, S: ALL, AD: ALL, SYSTEM: True, SCOPE: r.SCOPE_CASES_WRITE},
    LEGAL_REQUEST: {C: OWN, S: ALL, AD: ALL, SYSTEM: True, SCOPE: r.SCOPE_CASES_WRITE},
    LEGAL_DECIDE: {S: ALL, L: OWN, AD: ALL, SCOPE: r.SCOPE_CASES_MANAGE},
    VISIT_PLAN: {S: ALL, AD: ALL, SCOPE: r.SCOPE_CASES_MANAGE},
    VISIT_RECORD: {F: OWN, S: ALL, AD: ALL, SCOPE: r.SCOPE_CASES_WRITE},
    # The contract's row "de_escalate, assign, distribute": the system's "queue routing" is assignment.
    DE_ESCALATE: {S: ALL, AD: ALL, SCOPE: r.SCOPE_CASES_MANAGE},
    ASSIGN: {S: ALL, AD: ALL, SYSTEM: True, SCOPE: r.SCOPE_CASES_MANAGE},
    CASE_CLOSE: {S: ALL, AD: ALL, SYSTEM: True, SCOPE: r.SCOPE_CASES_MANAGE},
    # A collector places a dispute hold only through a contact's `dispute_raised` outcome (the
    # contact service places it on their behalf), so the cell is blank here.
    HOLD_PLACE: {S: ALL, L: OWN, AD: ALL, BORROWER: OWN, SCOPE: r.SCOPE_CASES_MANAGE},
    PII_REVEAL: {C: OWN, F: OWN, S: ALL, L: OWN, A: ALL, AD: ALL, SCOPE: r.SCOPE_PII_READ},
    PLAN_PROPOSE: {C: OWN, S: ALL, L: OWN, AD: ALL, BORROWER: OWN, SCOPE: r.SCOPE_CASES_WRITE},
    PLAN_DECIDE: {C: OWN, S: ALL, L: OWN, AD: ALL, SYSTEM: True, SCOPE: r.SCOPE_PLANS_DECIDE},
    PLAN_CANCEL: {C: OWN, S: ALL, L: OWN, AD: ALL, SYSTEM: True, SCOPE: r.SCOPE_CASES_WRITE},
    VULNERABILITY_SET: {C: OWN, F: OWN, S: ALL, L: OWN, AD: ALL, BORROWER: OWN, SCOPE: r.SCOPE_CASES_WRITE},
    BOOK_IMPORT: {S: ALL, AD: ALL, SCOPE: r.SCOPE_LOANS_WRITE},
    DASHBOARD_VIEW: {S: ALL, A: ALL, AD: ALL},
    # "own worklist, own cases' timelines" for collectors; "dashboard, audit log" for auditors.
    EXPORT_CASES: {C: OWN, S: ALL, AD: ALL},
    EXPORT_REPORTS: {S: ALL, A: ALL, AD: ALL},
    OPERATE: {AD: ALL, SCOPE: r.SCOPE_WEBHOOKS_MANAGE},
    # The personal-data audit log (its page and its export): the contract's "exports" row names it
    # for auditors; a supervisor's "all" there covers the cases' and the dashboard's exports, not
    # the record of who read personal data, which stays with the auditors and the operators.
    AUDIT_LOG_READ: {A: ALL, AD: ALL},
    PAYMENT_RECORD: {S: ALL, AD: ALL, SYSTEM: True, SCOPE: r.SCOPE_PAYMENTS_WRITE},
    VULNERABLE_ESCALATE: {S: ALL, AD: ALL},
}


def _in_scope(actor, obj):
    """Is `obj` within the actor's row scope? A case a service locked through `visible_cases` for
    this actor carries that answer already (no query)."""
    from .models import Borrower, Case, Visit

    if isinstance(obj, Case):
        if getattr(obj, "_visible_to", None) == actor.label:
            return True
        return visible_cases(actor).filter(pk=obj.pk).exists()
    if isinstance(obj, Visit):
        return actor.user is not None and obj.agents.filter(pk=actor.user.pk).exists()
    if isinstance(obj, Borrower):
        return visible_cases(actor).filter(borrower_id=obj.pk).exists()
    raise TypeError(f"may() does not know rows of type {type(obj).__name__}")


def may(actor, ability, obj=None):
    """May this actor do `ability` (one of ABILITIES), to `obj` if given?"""
    actor = as_actor(actor)
    try:
        row = ABILITIES[ability]
    except KeyError:
        raise ValueError(f"Unknown ability {ability!r}") from None
    if actor.is_system:
        return bool(row.get(SYSTEM))
    if actor.is_client:
        # A client's rows are all-or-nothing (cases:read); the service's lookup applies that.
        return bool(row.get(SCOPE)) and actor.has_scope(row[SCOPE])
    if actor.is_borrower:
        if not row.get(BORROWER):
            return False
        return obj is None or _borrower_owns(actor, obj)
    cells = {row.get(role) for role in actor.roles} - {None}
    if not cells:
        return False
    if ALL in cells or obj is None:
        return True
    return _in_scope(actor, obj)


def may_everywhere(actor, ability):
    """May the actor do `ability` on every row, not only within their own row scope: an "all"
    cell, the system, or a client's scope (a portfolio-wide page or export, such as a queue's list
    or the holds page, is for them)."""
    actor = as_actor(actor)
    row = ABILITIES[ability]
    if actor.is_system or actor.is_client or actor.is_borrower:
        return may(actor, ability) if not actor.is_borrower else False
    return any(row.get(role) == ALL for role in actor.roles)


def may_open_page(actor, ability, *, everywhere=False):
    """A staff page's guard (views' `ability_required`, the navigation's `may_open`)."""
    return may_everywhere(actor, ability) if everywhere else may(actor, ability)


def scopes_granting(*abilities):
    """The API scopes that grant any of these abilities (what a webhook body may show a client)."""
    return frozenset(ABILITIES[a][SCOPE] for a in abilities if ABILITIES[a].get(SCOPE))


def may_use_api(actor, ability):
    """The API's door: a client needs a scope granting `ability` (None: any client passes, the
    service decides); a person needs a role (every role sees some case), and the service then
    decides what they may do there."""
    actor = as_actor(actor)
    if actor.is_client:
        return ability is None or may(actor, ability)
    return may(actor, SEE_CASE)


def _borrower_owns(actor, obj):
    from .models import Borrower, Case

    external_id = actor.label.split(":", 1)[1]
    if isinstance(obj, Case):
        return obj.borrower.external_id == external_id
    if isinstance(obj, Borrower):
        return obj.external_id == external_id
    return False


def abilities_of(actor):
    """Every ability the actor has somewhere (for documentation pages and tests)."""
    return {name for name in ABILITIES if may(actor, name)}


# --- thin wrappers: the django-fsm permission callables and the older predicates ------------------

# django-fsm asks these about a case the caller already reached through `visible_cases` (a
# service's locked case, a selector's row), so they ask for the ability, not the row again: listing
# allowed transitions for a page of cases stays one query.


def may_escalate(case, actor):
    return may(actor, ESCALATE)


def may_schedule_visit(case, actor):
    return may(actor, ESCALATE) and may_escalate_borrower(case, actor)


def may_escalate_borrower(case, actor):
    """A vulnerable borrower's case goes to a visit or to legal review only by a supervisor's hand."""
    return not case.borrower_vulnerable or may(actor, VULNERABLE_ESCALATE)


def may_refer_to_legal(case, actor):
    return may(actor, LEGAL_DECIDE)


def may_manage(case, actor):
    return may(actor, DE_ESCALATE)


def may_close(case, actor):
    return may(actor, CASE_CLOSE)


def system_only(case, actor):
    return as_actor(actor).is_system


def may_work_case(actor):
    """Record contacts on a case (the narrowest "working" ability; promises, messages and legal
    referral requests each have their own)."""
    return may(actor, CONTACT_RECORD)


def may_decide_legal_referral(actor):
    return may(actor, LEGAL_DECIDE)


def may_place_hold(actor):
    return may(actor, HOLD_PLACE)


def may_assign(actor, queue=None):
    """Assigning work is a supervisor's job (or a client with cases:manage)."""
    return may(actor, ASSIGN)


def may_cancel_plan(actor, plan):
    """The "cancel a plan" row's "own proposals" for a collector: one who is only a collector cancels
    the plans they proposed; the other roles, clients and the system cancel any they may reach."""
    actor = as_actor(actor)
    if not actor.is_person or actor.is_superuser or actor.has_role(S, L, AD):
        return True
    return plan.proposed_by == actor.label


# --- whose authority a plan is measured against (the "propose a plan" and "decide a waiting plan"
# rows: "collector authority", "within authority", "supervisor authority" for plans:decide) ----------
PLAN_UNLIMITED = "unlimited"  # an admin ("all"): anything within the policy
PLAN_BORROWER = "borrower"  # models.Proposer's values are these and the role names


def plan_authority_to_propose(actor):
    """The authority a proposal by this actor is measured against."""
    actor = as_actor(actor)
    if actor.is_borrower:
        return PLAN_BORROWER
    if actor.is_client:
        return r.COLLECTOR  # `cases:write`: a collector's authority
    return _plan_authority_of_person(actor)


def plan_authority_to_decide(actor):
    """The authority this actor decides with (None: may not decide plans)."""
    actor = as_actor(actor)
    if actor.is_client:
        return r.SUPERVISOR if actor.has_scope(r.SCOPE_PLANS_DECIDE) else None
    if actor.is_borrower or actor.is_system:
        return None
    return _plan_authority_of_person(actor)


def _plan_authority_of_person(actor):
    if actor.is_superuser or actor.has_role(r.ADMIN):
        return PLAN_UNLIMITED
    # The widest authority among the person's roles (a plan authority is named after its role).
    for role in (r.LEGAL_OFFICER, r.SUPERVISOR, r.COLLECTOR):
        if actor.has_role(role):
            return role
    return None


# --- the "vulnerability marker" row: a borrower on their own page tells of hardship only, and their
# word waits for staff to confirm it; staff with the ability confirm, keep and clear markers.
BORROWER_VULNERABILITY_CODES = ("hardship",)


def vulnerability_codes_allowed(actor, codes):
    """The marker codes (of `codes`) this actor may set."""
    actor = as_actor(actor)
    if actor.is_borrower:
        return [c for c in codes if c in BORROWER_VULNERABILITY_CODES]
    return list(codes)


def vulnerability_needs_confirmation(actor):
    """Is a marker this actor sets the borrower's own word, waiting for staff to confirm it?"""
    return as_actor(actor).is_borrower


def may_review_vulnerability(actor, obj=None):
    """Confirm, keep (a new review date) or clear a marker: staff and clients with the ability, on
    `obj` (a case or a borrower) if given; never the borrower themselves."""
    actor = as_actor(actor)
    return not actor.is_borrower and may(actor, VULNERABILITY_SET, obj)


def may_record_payment(actor):
    return may(actor, PAYMENT_RECORD)


def may_reveal_pii(actor):
    return may(actor, PII_REVEAL)


def may_write_book(actor):
    """Write the loan book (borrowers, loans, schedules, payments by file): the "import files" row,
    and the system (the nightly feeds and commands run as it)."""
    actor = as_actor(actor)
    return actor.is_system or may(actor, BOOK_IMPORT)


def may_read_book(actor):
    """Read the loan book over the API: a client with `loans:write` (it writes it) or one that
    sees every case; a person who sees every case."""
    actor = as_actor(actor)
    if actor.is_client:
        return may(actor, BOOK_IMPORT) or sees_all_cases(actor)
    return sees_all_cases(actor)


def may_manage_webhooks(actor):
    """Webhook subscriptions and API clients (the "webhooks; API clients; /admin/" row), and the
    system (commands)."""
    actor = as_actor(actor)
    return actor.is_system or may(actor, OPERATE)


def api_unmasks_pii(actor):
    """Unmasked personal data in an API answer: only to a client holding the reveal scope
    (`pii:read`). People are always masked there; they reveal on the case page, audited."""
    actor = as_actor(actor)
    return actor.is_client and may(actor, PII_REVEAL)


def sees_all_cases(actor):
    """Does the actor's row scope cover every case (supervisors, auditors, admins, the system, a
    client with `cases:read`)? The portfolio-wide figures (the dashboard) ask this."""
    actor = as_actor(actor)
    if actor.is_system or actor.is_superuser:
        return True
    if actor.is_client:
        return may(actor, SEE_CASE)
    if actor.is_borrower:
        return False
    return any(ABILITIES[SEE_CASE].get(role) == ALL for role in actor.roles)


# --- the pages each role is offered ------------------------------------------------------------
# Who may open a staff page is its view's `ability_required`. What the navigation offers a role is
# a narrower choice (a supervisor may open the worklist but is not sent there), and `/` takes a
# person to the first of LANDING their roles have. Page keys are context.NAV's.
OFFERED = {
    C: {"worklist"},
    F: {"visits"},
    S: {"queues", "approvals", "holds", "dashboard", "strategy_tests", "imports", "exports"},
    L: {"approvals"},
    A: {"dashboard", "strategy_tests", "audit_log", "exports"},
    AD: {"queues", "approvals", "holds", "dashboard", "strategy_tests", "imports", "audit_log", "exports"},
}
# Most specific first (a person with several roles lands on the first).
LANDING = ((C, "worklist"), (F, "visits"), (S, "queues"), (AD, "queues"), (L, "approvals"), (A, "dashboard"))


def pages_offered(actor):
    """The page keys the navigation offers this person (a superuser: every page)."""
    actor = as_actor(actor)
    if actor.is_superuser:
        return None
    return set().union(*(OFFERED.get(role, ()) for role in actor.roles))


def landing_pages(actor):
    """The page keys `/` may take this person to, in order (a superuser falls back to the queues)."""
    actor = as_actor(actor)
    keys = [key for role, key in LANDING if role in actor.roles]
    if actor.is_superuser:
        keys.append("queues")
    return keys


# --- who may be given work ---------------------------------------------------------------------
# Not abilities (the person receives the work, they do not act): the roles that may hold a case
# (`assigned_to`), share a queue's even distribution, and go on a visit. Services check them;
# pages list the people who qualify.
ASSIGNEE_ROLES = frozenset({C, F, S})
DISTRIBUTION_ROLES = frozenset({C})
VISIT_AGENT_ROLES = frozenset({F})


def holds_role_in(user, roles):
    from .actors import user_roles

    return bool(user_roles(user) & roles)


# What reading is; every other ability changes something.
READ_ABILITIES = frozenset({SEE_CASE, PII_REVEAL, DASHBOARD_VIEW, EXPORT_CASES, EXPORT_REPORTS, AUDIT_LOG_READ})


def is_read_only(actor):
    """A person who may see cases but change nothing (an auditor, unless they hold another role)."""
    actor = as_actor(actor)
    return (
        actor.is_person
        and may(actor, SEE_CASE)
        and not any(may(actor, ability) for ability in set(ABILITIES) - READ_ABILITIES)
    )


def case_abilities(actor, case):
    """What this actor may do on this case now, for the case page (a template asks this dict, never
    role names). Mirrors what the services would refuse: a form is offered only when sending it
    could succeed (no second promise while one is pending, no legal referral while one waits, none
    on a closed case or under a hold where a hold stops it)."""
    from .models import LegalReferral, PlanStatus, PromiseToPay
    from .workflow import State

    actor = as_actor(actor)
    is_open = case.is_open

    def can(ability):
        return is_open and may(actor, ability, case)

    allowed = case.allowed_transitions(actor) if is_open else []
    in_visit = case.state == State.VISIT
    on_hold = in_visit and case.borrower_on_hold
    open_plan = _open_plan(case)
    plan_active = open_plan is not None and open_plan.status == PlanStatus.ACTIVE
    # No promise while a plan is active: the plan's dates are what the borrower agreed to.
    promise = (
        can(PROMISE_RECORD)
        and not plan_active
        and not case.promises.filter(status=PromiseToPay.Status.PENDING).exists()
    )
    request_legal = (
        can(LEGAL_REQUEST)
        and in_visit
        and may_escalate_borrower(case, actor)
        and not on_hold
        and not plan_active
        and not case.legal_referrals.filter(status=LegalReferral.Status.REQUESTED).exists()
    )
    abilities = {
        "record_contact": can(CONTACT_RECORD),
        "add_note": can(NOTE_ADD),
        "promise": promise,
        "send_message": can(MESSAGE_SEND),
        "transitions": [t for t in allowed if t != "close"],
        "close": "close" in allowed,
        "request_legal": request_legal,
        "plan_visit": can(VISIT_PLAN) and in_visit and not on_hold,
        "reveal": may(actor, PII_REVEAL, case),
        "assign": may(actor, ASSIGN, case),
        "export": may(actor, EXPORT_CASES, case),
        # One open plan per case (`plan_exists`); proposing needs an open case.
        "offer_plan": open_plan is None and can(PLAN_PROPOSE),
        "cancel_plan": open_plan is not None and can(PLAN_CANCEL) and may_cancel_plan(actor, open_plan),
        # A borrower-level marker: offered on closed cases too (the borrower may have others open).
        "vulnerability": may(actor, VULNERABILITY_SET, case),
    }
    abilities["work"] = any(abilities[k] for k in ("record_contact", "add_note", "promise", "send_message"))
    abilities["stage"] = bool(
        abilities["transitions"] or abilities["close"] or abilities["request_legal"] or abilities["plan_visit"]
    )
    return abilities


def _open_plan(case):
    """The case's proposed or active plan, or None: from the case page's prefetch (`plan_list`,
    selectors.cases.case_detail with plans) when there, else one query."""
    from .models import RepaymentPlan
    from .models.plans import OPEN_PLAN_STATUSES

    plans = getattr(case, "plan_list", None)
    if plans is not None:
        return next((p for p in plans if p.status in OPEN_PLAN_STATUSES), None)
    return RepaymentPlan.objects.filter(case=case, status__in=OPEN_PLAN_STATUSES).first()


def visible_cases(actor, queryset=None, *, assigned_to_me=False):
    """The one row-scope rule of CONTRACT.md, applied by every list, page and service.

    `assigned_to_me`: only the cases assigned to the actor (the worklist). The rule grants a
    collector every case assigned to them, so for a collector that filter is the whole condition:
    written alone it lets PostgreSQL estimate the collector's cases, where the rule's OR beside the
    same `assigned_to` made it guess one row and AND in an index of 250,000 cases."""
    from .models import Case, LegalReferral, Queue, RepaymentPlan, Visit

    actor = as_actor(actor)
    qs = queryset if queryset is not None else Case.objects.all()
    if assigned_to_me:
        if actor.user is None:
            return qs.none()
        qs = qs.filter(assigned_to=actor.user)
        if actor.has_role(r.COLLECTOR):
            return qs
    if actor.sees_everything:
        return qs
    if actor.is_client:
        return qs.none()
    user = actor.user
    scope = Q(pk__in=[])
    if actor.has_role(r.COLLECTOR):
        member_of_queue = Exists(Queue.members.through.objects.filter(queue_id=OuterRef("queue_id"), user=user))
        scope |= Q(assigned_to=user) | (Q(assigned_to__isnull=True) & Q(member_of_queue))
    if actor.has_role(r.FIELD_AGENT):
        scope |= Q(Exists(Visit.objects.filter(case=OuterRef("pk"), agents=user)))
    if actor.has_role(r.LEGAL_OFFICER):
        waiting_for_legal = RepaymentPlan.objects.filter(
            case=OuterRef("pk"), status="proposed", needs_authority=r.LEGAL_OFFICER
        )
        scope |= (
            Q(state="legal")
            | Q(Exists(LegalReferral.objects.filter(case=OuterRef("pk"), status=LegalReferral.Status.REQUESTED)))
            | Q(Exists(waiting_for_legal))
        )
    return qs.filter(scope)
