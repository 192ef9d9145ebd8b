"""Set-based builder of the page benchmark's portfolio (run inside a child, on the template database).

Like portfolio.py: one temporary plan table made with generate_series and `hashint8extended(i, k)`
(deterministic for a size and a date), borrower i / loan i / case i sharing the id i, secondary
indexes dropped during the load and rebuilt after it, FK triggers off, then VACUUM (FREEZE, ANALYZE).
What the pages read is there, shaped as the services would have written it over time:

* cases: 20% reminder (DPD 1-7), 25% call (8-30), 15% visit (31-90), 10% legal (62-180), 22% resolved
  (in the last 60 days), 8% closed (in the last 180 days); 6 or 12 monthly instalments per loan,
  the ones before the oldest unpaid one paid (one payment each);
* people: `collectors` users in the collector group (each holding `per_collector` open call/visit
  cases, plus their share of resolved/closed ones), field agents, a supervisor; four stage queues
  with the collectors as members; every other open case unassigned in its stage's queue;
* timeline: `opened`, a `transition` and an `assigned` event at each stage entry (DPD 8, 31, 62),
  `amounts_changed` as instalments fall due, contacts (`ContactAttempt` + `contact_logged`),
  reminder SMS (`message_sent`), promises (recorded / kept / broken; 5% of worked cases have one due
  today), payments (`payment_recorded`), resolve/close transitions; 1% of the assigned cases have a
  long history (60-150 more contacts, notes and messages); 20% of the assigned cases were
  reassigned this month (an `assigned` event from another collector);
* money: part payments on 15% of open cases this month and 15% last month, full payments on
  resolution, settlements on 40% of closed cases;
* MonthEndSnapshot rows for the last two month ends (every case open then, its stage, DPD, bucket
  and amount at that date), so roll rates and cure rates have their inputs;
* repayment plans (issue 11), added after the load by `_plans_sql`: the case page's case (the
  collector0001 open case with the longest timeline, as bench.pages picks it) has an ACTIVE plan of
  24 monthly instalments (total = the loan's outstanding balance; proposed by its collector, approved
  by the supervisor, since 24 months is beyond a collector's authority; the instalments already due
  met, and at least the first PLAN_PAID_AHEAD; a pending promise withdrawn), and PLANS_WAITING
  other open cases of other collectors have a PROPOSED plan needing supervisor authority (7-12
  monthly instalments: 6 would be within a collector's and active at once; total = what is overdue
  by the last date; proposed in the last 6 days, expiring 7 days after), each with its
  `plan_proposed` (and `plan_activated`) event. The payments behind the met instalments are not
  loaded (the pages read the met flags, not them).
"""

import time
from datetime import date, timedelta

from django.contrib.auth import get_user_model
from django.db import connection

from collections_app.models import (
    Borrower,
    Case,
    CaseEvent,
    ContactAttempt,
    Hold,
    Instalment,
    LegalReferral,
    Loan,
    MonthEndSnapshot,
    Payment,
    PlanInstalment,
    PromiseToPay,
    Queue,
    RepaymentPlan,
    Visit,
)

from collections_app.workflow import OPEN_STATES

from .portfolio import LENDER_ZONE, bulk_load, reset_sequences, t, table_rows, vacuum

BUILD_VERSION = 3  # 2, 3: repayment plans (a template built before them is not reused)
PLAN_MONTHS, PLAN_PAID_AHEAD, PLANS_WAITING = 24, 3, 200
QUEUES = (("Early reminders", "reminder"), ("M1 calls", "call"), ("M2 visits", "visit"), ("Legal review", "legal"))
SUPERVISOR_ID, AUDITOR_ID, FIELD_AGENT_BASE, COLLECTOR_BASE = 1, 2, 10, 100
FIELD_AGENTS = 20
LOADED = (
    Borrower,
    Loan,
    Instalment,
    Payment,
    Case,
    CaseEvent,
    ContactAttempt,
    PromiseToPay,
    Hold,
    Visit,
    LegalReferral,
    MonthEndSnapshot,
)


def collector_name(index):
    return f"collector{index + 1:04d}"


def month_ends(as_of):
    """The last two month ends before as_of's month: (end of M-1, end of M-2)."""
    e1 = as_of.replace(day=1) - timedelta(days=1)
    return e1, e1.replace(day=1) - timedelta(days=1)


def _d(value):
    return "DATE '" + date.fromisoformat(str(value)).isoformat() + "'"


def H(k, expr="i"):
    """A deterministic non-negative int from (expr, k)."""
    return f"((hashint8extended({expr}, {int(k)}) & 2147483647)::int)"


def local(day_sql, seconds_sql):
    """A lender-local wall time (a date plus seconds after midnight) as timestamptz."""
    return f"(({day_sql})::timestamp + make_interval(secs => ({seconds_sql}))) AT TIME ZONE '{LENDER_ZONE}'"


def _bucket_of(dpd_sql):
    return (
        f"CASE WHEN {dpd_sql} >= 91 THEN '91+' WHEN {dpd_sql} >= 61 THEN '61-90' WHEN {dpd_sql} >= 31 THEN '31-60' "
        f"WHEN {dpd_sql} >= 8 THEN '8-30' WHEN {dpd_sql} >= 1 THEN '1-7' ELSE '' END"
    )


def _run(cursor, sql):
    cursor.execute(sql)
    return cursor.rowcount


def plan_sql(n, as_of, collectors, per_collector):
    T = _d(as_of)
    month_start = _d(as_of.replace(day=1))
    k = int(collectors)
    slots = k * int(per_collector)
    sweep = "7200 + h5 % 900"  # the sweep's time of day: 02:00 + up to 15 min
    return f"""
CREATE TEMP TABLE bench_pp AS
WITH s AS (
  SELECT i, {H(1)} % 100 AS b, {H(2)} AS h2, {H(3)} AS h3, {H(4)} AS h4, {H(5)} AS h5, {H(6)} AS h6,
         {H(7)} AS h7, {H(8)} AS h8, {H(9)} AS h9
  FROM generate_series(1, {int(n)}::bigint) AS i
), a AS (
  SELECT s.*,
    CASE WHEN b < 20 THEN 'reminder' WHEN b < 45 THEN 'call' WHEN b < 60 THEN 'visit' WHEN b < 70 THEN 'legal'
         WHEN b < 92 THEN 'resolved' ELSE 'closed' END AS state,
    -- DPD today (open), at resolution (resolved) or at closing (closed)
    (CASE WHEN b < 20 THEN 1 + h2 % 7 WHEN b < 45 THEN 8 + h2 % 23 WHEN b < 60 THEN 31 + h2 % 60
          WHEN b < 70 THEN 62 + h2 % 119 WHEN b < 92 THEN 1 + h2 % 60 ELSE 91 + h2 % 120 END)::int AS peak_dpd,
    (CASE WHEN b < 70 THEN 0 WHEN b < 92 THEN h3 % 60 ELSE 1 + h3 % 180 END)::int AS ended_ago,
    (CASE WHEN h6 % 10 < 7 THEN 6 ELSE 12 END)::int AS n_inst,
    (300 + (h7 % 40) * 25)::numeric(14, 2) AS amount
  FROM s
), c AS (
  SELECT a.*,
    {T} - ended_ago - peak_dpd AS d0,
    CASE WHEN state IN ('resolved', 'closed') THEN {T} - ended_ago END AS ended_on,
    ((h6 / 10) % (n_inst / 2))::int AS paid_before,
    state = 'legal' OR (state = 'closed' AND h4 % 2 = 0) AS reached_legal,
    CASE WHEN state IN ('reminder', 'call', 'visit', 'legal') AND h8 % 100 < 15 THEN 'this_month'
         WHEN state IN ('reminder', 'call', 'visit', 'legal') AND h8 % 100 < 30 THEN 'last_month'
         WHEN state = 'closed' AND h8 % 100 < 40 THEN 'settled' END AS part_pay
  FROM a
), r AS (  -- assignment: open call/visit cases, ranked by a hash, the first collectors*per_collector of them
  SELECT i, row_number() OVER (ORDER BY {H(20)}) AS rk
  FROM c WHERE state IN ('call', 'visit')
)
SELECT c.*,
  {local("c.d0 + 1", sweep)} AS opened_at,
  CASE WHEN peak_dpd >= 8 THEN {local("c.d0 + 8", sweep)} END AS call_at,
  CASE WHEN peak_dpd >= 31 THEN {local("c.d0 + 31", sweep)} END AS visit_at,
  CASE WHEN reached_legal THEN {local("c.d0 + 62", sweep)} END AS legal_at,
  CASE WHEN state = 'resolved' THEN LEAST({local("c.ended_on", "36000 + h9 % 36000")}, now() - interval '10 minutes')
       WHEN state = 'closed' THEN {local("c.ended_on", "36000 + h9 % 28800")} END AS ended_at,
  CASE WHEN r.rk <= {slots} THEN (r.rk % {k})::int
       WHEN state IN ('resolved', 'closed') AND peak_dpd >= 8 AND NOT reached_legal AND {H(21)} % 10 < 4
         THEN ({H(22)} % {k})::int
  END AS collector,
  (r.rk <= {slots} AND {H(23)} % 5 = 0) AS reassigned,
  -- instalments overdue today (open) / at the end (resolved, closed)
  LEAST(n_inst - paid_before, ((CASE WHEN ended_on IS NULL THEN {T} ELSE ended_on END) - d0 - 1) / 30 + 1)::int AS n_overdue,
  ((h9 % 10) * 10)::int AS priority,
  CASE WHEN {H(25)} % 10 < 6 THEN now() + make_interval(mins => ({H(26)} % 14400)::int - 4320) END AS next_action_at,
  {month_start} AS month_start
FROM c LEFT JOIN r USING (i)
"""


def _activity_sql(as_of):
    """One row per contact / note / message on a case (worked cases only)."""
    return f"""
CREATE TEMP TABLE bench_act AS
SELECT row_number() OVER (ORDER BY x.at, x.i, x.seq) AS id, x.*
FROM (
  SELECT p.i, g.seq, p.collector, p.state,
    CASE WHEN p.call_at IS NULL THEN 'message'
         WHEN p.long_history THEN (ARRAY['contact', 'contact', 'contact', 'note', 'message'])[1 + {
        H(31, "p.i * 1000 + g.seq")
    } % 5]
         WHEN {H(31, "p.i * 1000 + g.seq")} % 10 = 0 THEN 'message' ELSE 'contact' END AS kind,
    {H(32, "p.i * 1000 + g.seq")} AS hx,
    GREATEST(p.start_at, LEAST(p.end_at - interval '1 minute', {
        local(
            f"((p.start_at + (p.end_at - p.start_at) * ((g.seq - 1) + ({H(33, 'p.i * 1000 + g.seq')} % 1000) / 1000.0) / p.n_act) AT TIME ZONE '{LENDER_ZONE}')::date",
            f"32400 + {H(34, 'p.i * 1000 + g.seq')} % 39600",
        )
    })) AS at
  FROM (
    SELECT pp.*, {H(30)} % 100 = 0 AND pp.collector IS NOT NULL AND pp.state IN ('call', 'visit') AS long_history,
      COALESCE(pp.call_at, pp.opened_at) AS start_at,
      LEAST(COALESCE(pp.ended_at, now()), now()) AS end_at,
      (CASE WHEN {H(30)} % 100 = 0 AND pp.collector IS NOT NULL AND pp.state IN ('call', 'visit') THEN 60 + {H(35)} % 91
            WHEN pp.call_at IS NULL THEN 1 + {H(35)} % 2
            WHEN pp.state IN ('call', 'visit', 'legal') THEN 2 + {H(35)} % 5
            ELSE 1 + {H(35)} % 3 END)::int AS n_act
    FROM bench_pp pp
  ) p CROSS JOIN LATERAL generate_series(1, p.n_act) AS g(seq)
  WHERE p.start_at < p.end_at - interval '2 minutes'
) x
"""


def _promise_sql(as_of):
    """25% of the open call/visit/legal cases have a promise; a fifth of those (5%) is due today."""
    T = _d(as_of)
    return f"""
CREATE TEMP TABLE bench_prom AS
SELECT row_number() OVER (ORDER BY created_at, i) AS id, y.*,
  CASE WHEN due_date < {T} THEN CASE WHEN {H(43)} % 5 < 2 THEN 'kept' ELSE 'broken' END ELSE 'pending' END AS status,
  CASE WHEN due_date < {T} THEN {local("due_date + 1", "7200 + h5 % 900")} END AS settled_at
FROM (
  SELECT x.*, CASE WHEN x.due_today THEN {T} ELSE (x.created_at AT TIME ZONE '{LENDER_ZONE}')::date + 1 + ({H(44)} % 10)::int END AS due_date
  FROM (
    SELECT p.i, p.h5, p.collector, p.amount, {H(41)} % 5 = 0 AS due_today,
      LEAST(now() - interval '5 minutes', GREATEST(p.call_at + interval '1 hour',
        {local(f"{T} - CASE WHEN {H(41)} % 5 = 0 THEN 1 + {H(42)} % 6 ELSE {H(42)} % 56 END", f"36000 + {H(45)} % 32400")})) AS created_at
    FROM bench_pp p
    WHERE p.state IN ('call', 'visit', 'legal') AND {H(40)} % 4 = 0
  ) x
) y
"""


def _payment_sql(as_of):
    T = _d(as_of)
    this_month = f"{local('p.month_start', '0')}"
    return f"""
CREATE TEMP TABLE bench_pay AS
SELECT row_number() OVER (ORDER BY z.paid_at, z.i, z.kind) AS id, z.*
FROM (
  -- the instalments paid on time before the oldest unpaid one
  SELECT p.i, 'history' AS kind, g.j, p.amount,
    {local("p.d0 - 30 * (p.paid_before - g.j + 1) - " + H(50, "p.i * 100 + g.j") + " % 4", "32400 + " + H(51, "p.i * 100 + g.j") + " % 39600")} AS paid_at
  FROM bench_pp p CROSS JOIN LATERAL generate_series(1, p.paid_before) AS g(j)
  UNION ALL
  -- a resolution pays everything overdue
  SELECT p.i, 'resolve', 0, p.amount * p.n_overdue, p.ended_at FROM bench_pp p WHERE p.state = 'resolved'
  UNION ALL
  -- after a resolution, instalments paid on time up to today
  SELECT p.i, 'on_time', g.j, p.amount,
    LEAST(now() - interval '1 minute', GREATEST(p.ended_at + interval '1 hour',
      {local("p.d0 + 30 * (g.j - p.paid_before - 1) - " + H(52, "p.i * 100 + g.j") + " % 3", "32400 + " + H(53, "p.i * 100 + g.j") + " % 39600")}))
  FROM bench_pp p CROSS JOIN LATERAL generate_series(p.paid_before + p.n_overdue + 1, p.n_inst) AS g(j)
  WHERE p.state = 'resolved' AND p.d0 + 30 * (g.j - p.paid_before - 1) < {T}
  UNION ALL
  -- part payments on open cases (this month, last month) and settlements before a close
  SELECT p.i, p.part_pay, 0, (p.amount / 2)::numeric(14, 2),
    CASE p.part_pay
      WHEN 'this_month' THEN LEAST(now() - interval '1 minute', GREATEST(p.opened_at + interval '1 hour',
        {this_month} + (now() - {this_month}) * ({H(54)} % 1000) / 1000.0))
      WHEN 'last_month' THEN GREATEST(p.opened_at + interval '1 hour',
        {local("(p.month_start - interval '1 month')::date + " + H(55) + " % 28", "32400 + " + H(56) + " % 39600")})
      ELSE p.ended_at - make_interval(days => 1 + ({H(57)} % 5)::int) END
  FROM bench_pp p WHERE p.part_pay IS NOT NULL
) z
"""


def _inserts(as_of, collectors):
    T = _d(as_of)
    e1, e2 = month_ends(as_of)
    user = t(get_user_model())
    ev = t(CaseEvent)
    names = {state: name for name, state in QUEUES}
    queue_of = (
        "CASE {s} WHEN 'reminder' THEN q_reminder WHEN 'call' THEN q_call WHEN 'visit' THEN q_visit ELSE q_legal END"
    )
    cuid = f"({COLLECTOR_BASE} + p.collector)"
    first_holder = f"CASE WHEN p.reassigned THEN (p.collector + 1) % {int(collectors)} ELSE p.collector END"

    def uname(expr):
        return f"CASE WHEN {expr} IS NULL THEN NULL ELSE 'collector' || lpad(({expr} + 1)::text, 4, '0') END"

    out = {}
    out["borrowers"] = f"""
INSERT INTO {t(Borrower)} (id, external_id, name, national_id, phones, email, address, city, time_zone, language,
                           consent_after_hours, consent_sms, consent_email, created_at, updated_at)
SELECT i, 'PB' || lpad(i::text, 10, '0'),
  (ARRAY['王','李','张','刘','陈','杨','黄','赵','吴','周','徐','孙','马','朱','胡','郭'])[1 + h2 % 16]
  || (ARRAY['伟','芳','娜','敏','静','丽','强','磊','军','洋','勇','艳','杰','娟','涛','明'])[1 + h3 % 16]
  || CASE WHEN h4 % 3 = 0 THEN '' ELSE (ARRAY['华','平','刚','桂','英','霞','辉','鹏'])[1 + h5 % 8] END,
  '310' || lpad((h6 % 1000)::text, 3, '0') || to_char(DATE '1970-01-01' + (h7 % 15000)::int, 'YYYYMMDD') || lpad((h8 % 10000)::text, 4, '0'),
  CASE WHEN h9 % 10 < 3
    THEN jsonb_build_array('+861' || (30 + h2 % 60) || lpad((h3 % 100000000)::text, 8, '0'),
                           '+861' || (30 + h4 % 60) || lpad((h5 % 100000000)::text, 8, '0'))
    ELSE jsonb_build_array('+861' || (30 + h2 % 60) || lpad((h3 % 100000000)::text, 8, '0')) END,
  CASE WHEN h4 % 2 = 0 THEN 'b' || i || '@example.com' ELSE '' END,
  '上海市浦东新区张江路' || (1 + h6 % 999) || '弄' || (1 + h7 % 30) || '号' || (101 + h8 % 1500) || '室', 'Shanghai',
  '{LENDER_ZONE}', CASE WHEN h9 % 10 = 0 THEN 'en' ELSE 'zh-hans' END, FALSE, TRUE, TRUE,
  opened_at - interval '200 days', opened_at
FROM bench_pp ORDER BY i"""
    out["loans"] = f"""
INSERT INTO {t(Loan)} (id, external_id, borrower_id, product, principal, currency, disbursed_on, created_at, updated_at)
SELECT i, 'PL' || lpad(i::text, 10, '0'), i,
  (ARRAY['consumer','consumer','cash_loan','phone_instalment','education'])[1 + h7 % 5], amount * n_inst, 'CNY',
  d0 - 30 * (paid_before + 1), opened_at - interval '200 days', opened_at
FROM bench_pp ORDER BY i"""
    out["instalments"] = f"""
INSERT INTO {t(Instalment)} (loan_id, number, due_date, amount_due, amount_paid)
SELECT p.i, g.j, p.d0 + 30 * (g.j - p.paid_before - 1), p.amount,
  CASE WHEN g.j <= p.paid_before THEN p.amount
       WHEN p.state = 'resolved' AND p.d0 + 30 * (g.j - p.paid_before - 1) < {T} THEN p.amount
       WHEN g.j = p.paid_before + 1 AND p.part_pay IS NOT NULL THEN (p.amount / 2)::numeric(14, 2)
       ELSE 0 END
FROM bench_pp p CROSS JOIN LATERAL generate_series(1, p.n_inst) AS g(j)
ORDER BY p.i, g.j"""
    out["payments"] = f"""
INSERT INTO {t(Payment)} (id, external_id, loan_id, amount, paid_at, channel, recorded_by_label, created_at,
                          unapplied_amount, reversed_at, reversed_by_label, reversal_reason)
SELECT id, 'PP' || lpad(id::text, 10, '0'), i, amount, paid_at,
  (ARRAY['bank_transfer','bank_transfer','bank_transfer','alipay','wechat_pay'])[1 + {H(58, "id")} % 5],
  'system', paid_at, 0, NULL, '', ''
FROM bench_pay ORDER BY id"""
    out["queues"] = f"""
INSERT INTO {t(Queue)} (name, description, created_at, label_en, label_zh_hans)
SELECT v.name, 'bench: ' || v.stage || ' stage', now(), '', ''
FROM (VALUES {", ".join(f"('{name}', '{stage}')" for name, stage in QUEUES)}) AS v(name, stage)
ON CONFLICT (name) DO NOTHING"""
    out["users"] = f"""
INSERT INTO {user} (id, password, last_login, is_superuser, username, first_name, last_name, email, is_staff,
                    is_active, date_joined)
SELECT id, '!bench-unusable', NULL, FALSE, username, '', '', username || '@bench.invalid', FALSE, TRUE, now()
FROM (
  SELECT {SUPERVISOR_ID} AS id, 'bench_supervisor' AS username
  UNION ALL SELECT {AUDITOR_ID}, 'bench_auditor'
  UNION ALL SELECT {FIELD_AGENT_BASE} + g, 'field' || lpad((g + 1)::text, 4, '0') FROM generate_series(0, {FIELD_AGENTS - 1}) g
  UNION ALL SELECT {COLLECTOR_BASE} + g, 'collector' || lpad((g + 1)::text, 4, '0') FROM generate_series(0, {int(collectors) - 1}) g
) u"""
    out["groups"] = f"""
INSERT INTO {get_user_model().groups.through._meta.db_table} (user_id, group_id)
SELECT u.id, g.id FROM {user} u JOIN auth_group g ON g.name = CASE
  WHEN u.id = {SUPERVISOR_ID} THEN 'supervisor' WHEN u.id = {AUDITOR_ID} THEN 'auditor'
  WHEN u.id < {COLLECTOR_BASE} THEN 'field_agent' ELSE 'collector' END"""
    out["queue_members"] = f"""
INSERT INTO {Queue.members.through._meta.db_table} (queue_id, user_id)
SELECT q.id, u.id FROM {t(Queue)} q JOIN {user} u ON
  (q.name IN ('{names["call"]}', '{names["visit"]}') AND u.id >= {COLLECTOR_BASE})
  OR (q.name = '{names["reminder"]}' AND u.id >= {COLLECTOR_BASE} AND u.id % 10 = 0)
  OR (q.name = '{names["visit"]}' AND u.id >= {FIELD_AGENT_BASE} AND u.id < {COLLECTOR_BASE})
  OR u.id = {SUPERVISOR_ID}"""
    queues = f"""(SELECT max(id) FILTER (WHERE name = '{names["reminder"]}') AS q_reminder,
                         max(id) FILTER (WHERE name = '{names["call"]}') AS q_call,
                         max(id) FILTER (WHERE name = '{names["visit"]}') AS q_visit,
                         max(id) FILTER (WHERE name = '{names["legal"]}') AS q_legal FROM {t(Queue)}) q"""
    stage_now = (
        "CASE WHEN p.state IN ('reminder','call','visit','legal') THEN p.state WHEN p.legal_at IS NOT NULL "
        "THEN 'legal' WHEN p.visit_at IS NOT NULL THEN 'visit' WHEN p.call_at IS NOT NULL THEN 'call' ELSE 'reminder' END"
    )
    out["cases"] = f"""
INSERT INTO {t(Case)} (id, state, oldest_unpaid_due_date, amount_overdue, priority, next_action_at, opened_at,
                       resolved_at, closed_at, close_reason, updated_at, assigned_to_id, borrower_id, loan_id, queue_id)
SELECT p.i, p.state,
  CASE WHEN p.state = 'resolved' THEN NULL ELSE p.d0 END,
  CASE WHEN p.state = 'resolved' THEN 0
       ELSE p.amount * p.n_overdue - CASE WHEN p.part_pay IS NOT NULL THEN (p.amount / 2)::numeric(14, 2) ELSE 0 END END,
  p.priority, CASE WHEN p.state IN ('resolved', 'closed') THEN NULL ELSE p.next_action_at END, p.opened_at,
  CASE WHEN p.state = 'resolved' THEN p.ended_at END, CASE WHEN p.state = 'closed' THEN p.ended_at END,
  CASE WHEN p.state = 'closed' THEN CASE WHEN p.part_pay = 'settled' THEN 'settled' ELSE 'written_off' END ELSE '' END,
  GREATEST(p.opened_at, COALESCE(p.ended_at, p.legal_at, p.visit_at, p.call_at, p.opened_at)),
  CASE WHEN p.collector IS NOT NULL THEN {cuid} END, p.i, p.i,
  {queue_of.format(s=stage_now)}
FROM bench_pp p, {queues}
ORDER BY p.i"""
    # --- the timeline ---
    ins = f"INSERT INTO {ev} (case_id, kind, actor, actor_user_id, from_state, to_state, reason, payload, at)"
    out["events_opened"] = f"""{ins}
SELECT i, 'opened', 'system', NULL, '', 'reminder', 'overdue',
  jsonb_build_object('dpd', 1, 'amount_overdue', amount::text, 'oldest_unpaid_due_date', d0::text), opened_at
FROM bench_pp ORDER BY opened_at"""
    out["events_transitions"] = f"""{ins}
SELECT p.i, 'transition', v.actor, NULL, v.frm, v.too, v.reason, v.payload, v.at
FROM bench_pp p CROSS JOIN LATERAL (VALUES
  (p.call_at, 'system', 'reminder', 'call', '', jsonb_build_object('transition', 'start_calls')),
  (p.visit_at, 'system', 'call', 'visit', '', jsonb_build_object('transition', 'schedule_visit')),
  (p.legal_at + interval '8 hours', 'user:bench_supervisor', 'visit', 'legal', '',
   jsonb_build_object('transition', 'refer_to_legal', 'referral_id', p.i)),
  (CASE WHEN p.state = 'resolved' THEN p.ended_at END, 'system', {stage_now}, 'resolved', 'payment',
   jsonb_build_object('transition', 'resolve', 'amount_overdue', '0.00')),
  (CASE WHEN p.state = 'closed' THEN p.ended_at END, 'user:bench_supervisor', {stage_now}, 'closed',
   CASE WHEN p.part_pay = 'settled' THEN 'settled' ELSE 'written_off' END, jsonb_build_object('transition', 'close'))
) AS v(at, actor, frm, too, reason, payload)
WHERE v.at IS NOT NULL ORDER BY v.at"""
    # An `assigned` event on each stage entry (the strategy's distribution) and the reassignments.
    holder = {"reminder": "NULL::int", "call": first_holder, "visit": first_holder, "legal": "NULL::int"}
    out["events_assigned"] = f"""{ins}
SELECT p.i, 'assigned', 'system', NULL, '', '', '', jsonb_build_object(
    'from_user', {uname("v.from_c")}, 'to_user', {uname("v.to_c")}, 'from_queue', v.from_q, 'to_queue', v.to_q), v.at
FROM bench_pp p CROSS JOIN LATERAL (VALUES
  (p.opened_at, NULL::int, {holder["reminder"]}, NULL, '{names["reminder"]}'),
  (p.call_at, NULL::int, CASE WHEN p.collector IS NOT NULL THEN {holder["call"]} END, '{names["reminder"]}', '{names["call"]}'),
  (p.visit_at, CASE WHEN p.collector IS NOT NULL THEN {holder["call"]} END,
               CASE WHEN p.collector IS NOT NULL THEN {holder["visit"]} END, '{names["call"]}', '{names["visit"]}'),
  (p.legal_at + interval '8 hours', CASE WHEN p.collector IS NOT NULL THEN {holder["visit"]} END, NULL::int,
               '{names["visit"]}', '{names["legal"]}')
) AS v(at, from_c, to_c, from_q, to_q)
WHERE v.at IS NOT NULL ORDER BY v.at"""
    stage_q = f"CASE p.state WHEN 'call' THEN '{names['call']}' ELSE '{names['visit']}' END"
    out["events_reassigned"] = f"""{ins}
SELECT i, 'assigned', 'user:bench_supervisor', {SUPERVISOR_ID}, '', '', 'workload', jsonb_build_object(
    'from_user', {uname(first_holder)}, 'to_user', {uname("p.collector")}, 'from_queue', {stage_q}, 'to_queue', {stage_q}), at
FROM (
  SELECT p.*, LEAST(now() - interval '1 minute', GREATEST(COALESCE(p.visit_at, p.call_at) + interval '1 hour',
    {local("p.month_start", "0")} + (now() - {local("p.month_start", "0")}) * ({H(27)} % 1000) / 1000.0)) AS at
  FROM bench_pp p WHERE p.reassigned
) p ORDER BY at"""
    out["events_amounts"] = f"""{ins}
SELECT p.i, 'amounts_changed', 'system', NULL, '', '', 'instalment ' || (p.paid_before + g.m + 1) || ' due',
  jsonb_build_object('amount_overdue_before', (p.amount * g.m)::text, 'amount_overdue', (p.amount * (g.m + 1))::text,
                     'oldest_unpaid_due_date', p.d0::text),
  {local("p.d0 + 30 * g.m + 1", "7200 + p.h5 % 900")}
FROM bench_pp p CROSS JOIN LATERAL generate_series(1, p.n_overdue - 1) AS g(m)
ORDER BY 9"""
    # --- activities: contacts, notes, messages ---
    out["contacts"] = f"""
INSERT INTO {t(ContactAttempt)} (id, case_id, borrower_id, channel, direction, phone, outcome, notes, breach, actor,
                                 actor_user_id, occurred_at, recorded_at)
SELECT a.id, a.i, a.i, CASE WHEN a.state = 'visit' AND a.hx % 10 = 0 THEN 'visit' ELSE 'call' END,
  CASE WHEN a.hx % 20 = 0 THEN 'inbound' ELSE 'outbound' END, b.phones ->> 0,
  (ARRAY['no_answer','no_answer','no_answer','no_answer','busy','right_party_contact','right_party_contact',
         'third_party','wrong_number','refused','promise_made'])[1 + (a.hx / 7) % 11],
  (ARRAY['','','','客户表示本周内还款','电话无人接听','已提醒逾期后果','客户称工资延迟发放','要求稍后回电'])[1 + (a.hx / 3) % 8],
  '', 'user:' || COALESCE(uc.username, 'collector0001'), COALESCE(uc.id, {COLLECTOR_BASE}), a.at, a.at
FROM bench_act a JOIN {t(Borrower)} b ON b.id = a.i
LEFT JOIN {user} uc ON uc.id = {COLLECTOR_BASE} + a.collector
WHERE a.kind = 'contact' ORDER BY a.id"""
    out["events_activity"] = f"""{ins}
SELECT a.i, CASE a.kind WHEN 'contact' THEN 'contact_logged' WHEN 'note' THEN 'note_added' ELSE 'message_sent' END,
  CASE WHEN a.kind = 'message' THEN 'system' ELSE 'user:' || COALESCE('collector' || lpad((a.collector + 1)::text, 4, '0'), 'collector0001') END,
  CASE WHEN a.kind = 'message' THEN NULL ELSE {COLLECTOR_BASE} + COALESCE(a.collector, 0) END,
  '', '',
  CASE a.kind WHEN 'contact' THEN COALESCE(c.notes, '') WHEN 'note' THEN
    (ARRAY['客户称下周一发工资后还款','家属代为接听，已转告','客户要求提供还款账户','已发送还款提醒短信','客户情绪激动，建议主管跟进'])[1 + a.hx % 5]
    ELSE '' END,
  CASE a.kind
    WHEN 'contact' THEN jsonb_build_object('contact_id', a.id, 'channel', c.channel, 'direction', c.direction,
                                           'outcome', c.outcome, 'breach', NULL)
    WHEN 'note' THEN '{{}}'::jsonb
    ELSE jsonb_build_object('channel', 'sms', 'template', CASE WHEN a.state = 'reminder' THEN 'overdue_reminder'
                                                                ELSE 'overdue_followup' END, 'message_id', a.id) END,
  a.at
FROM bench_act a LEFT JOIN {t(ContactAttempt)} c ON c.id = a.id
ORDER BY a.at"""
    out["promises"] = f"""
INSERT INTO {t(PromiseToPay)} (id, case_id, amount, due_date, status, contact_id, actor, actor_user_id, created_at,
                               settled_at)
SELECT id, i, amount, due_date, status, NULL, 'user:' || COALESCE('collector' || lpad((collector + 1)::text, 4, '0'), 'collector0001'),
  {COLLECTOR_BASE} + COALESCE(collector, 0), created_at, settled_at
FROM bench_prom ORDER BY id"""
    out["events_promises"] = f"""{ins}
SELECT p.i, v.kind, v.actor, v.uid, '', '', '', jsonb_build_object('promise_id', p.id, 'amount', p.amount::text,
                                                                   'due_date', p.due_date::text), v.at
FROM bench_prom p CROSS JOIN LATERAL (VALUES
  ('promise_recorded', 'user:' || COALESCE('collector' || lpad((p.collector + 1)::text, 4, '0'), 'collector0001'),
   {COLLECTOR_BASE} + COALESCE(p.collector, 0), p.created_at),
  (CASE p.status WHEN 'kept' THEN 'promise_kept' ELSE 'promise_broken' END, 'system', NULL,
   CASE WHEN p.status <> 'pending' AND p.settled_at < now() THEN p.settled_at END)
) AS v(kind, actor, uid, at)
WHERE v.at IS NOT NULL ORDER BY v.at"""
    out["events_payments"] = f"""{ins}
SELECT y.i, 'payment_recorded', 'system', NULL, '', '', '', jsonb_build_object(
    'external_id', 'PP' || lpad(y.id::text, 10, '0'), 'amount', y.amount::text, 'channel', 'bank_transfer',
    'paid_at', y.paid_at::text, 'unapplied', '0.00'), y.paid_at
FROM bench_pay y JOIN bench_pp p ON p.i = y.i
WHERE y.paid_at >= p.opened_at AND (p.ended_at IS NULL OR y.paid_at <= p.ended_at)
ORDER BY y.paid_at"""
    out["events_legal"] = f"""{ins}
SELECT p.i, v.kind, 'user:bench_supervisor', {SUPERVISOR_ID}, '', '', v.reason, jsonb_build_object('referral_id', p.i), v.at
FROM bench_pp p CROSS JOIN LATERAL (VALUES
  ('legal_referral_requested', '多次联系无果，建议法律途径', p.legal_at + interval '7 hours'),
  ('legal_referral_approved', '', p.legal_at + interval '8 hours')
) AS v(kind, reason, at)
WHERE p.legal_at IS NOT NULL ORDER BY v.at"""
    out["legal_referrals"] = f"""
INSERT INTO {t(LegalReferral)} (id, case_id, status, reason, requested_by, requested_by_user_id, requested_at,
                                decided_by, decided_by_user_id, decided_at, decision_reason)
SELECT i, i, 'approved', '多次联系无果，建议法律途径', 'user:bench_supervisor', {SUPERVISOR_ID},
  legal_at + interval '7 hours', 'user:bench_supervisor', {SUPERVISOR_ID}, legal_at + interval '8 hours', ''
FROM bench_pp WHERE legal_at IS NOT NULL ORDER BY i"""
    out["visits"] = f"""
INSERT INTO {t(Visit)} (id, case_id, scheduled_for, status, outcome, notes, planned_by, created_at, recorded_at)
SELECT i, i, s.at, CASE WHEN s.at < now() THEN 'done' ELSE 'planned' END,
  CASE WHEN s.at < now() THEN (ARRAY['met_borrower','not_home','moved','refused','promise_made'])[1 + h3 % 5] ELSE '' END,
  '', 'user:bench_supervisor', p.visit_at + interval '8 hours', CASE WHEN s.at < now() THEN s.at + interval '2 hours' END
FROM bench_pp p CROSS JOIN LATERAL (SELECT p.visit_at + make_interval(days => 2 + (p.h4 % 12)::int, hours => 8) AS at) s
WHERE p.visit_at IS NOT NULL AND p.h4 % 10 < 3 ORDER BY i"""
    out["visit_agents"] = f"""
INSERT INTO {Visit.agents.through._meta.db_table} (visit_id, user_id)
SELECT v.id, {FIELD_AGENT_BASE} + (v.id % {FIELD_AGENTS}) FROM {t(Visit)} v"""
    out["holds"] = f"""
INSERT INTO {t(Hold)} (borrower_id, code, reason, starts_at, ends_at, source, placed_by_id, placed_by_label,
                       placed_at, lifted_at, lifted_by_label, lift_reason)
SELECT i, CASE WHEN h7 % 2 = 0 THEN 'dispute' ELSE 'complaint' END, '客户对欠款金额有异议', opened_at + interval '3 days',
  NULL, 'staff', {SUPERVISOR_ID}, 'user:bench_supervisor', opened_at + interval '3 days',
  CASE WHEN {H(60)} % 100 = 1 THEN opened_at + interval '10 days' END,
  CASE WHEN {H(60)} % 100 = 1 THEN 'user:bench_supervisor' ELSE '' END,
  CASE WHEN {H(60)} % 100 = 1 THEN 'resolved with the borrower' ELSE '' END
FROM bench_pp WHERE {H(60)} % 100 < 2 AND opened_at + interval '10 days' < now() ORDER BY i"""
    for label, day in (("snapshot_m1", e1), ("snapshot_m2", e2)):
        E = _d(day)
        dpd = f"({E} - p.d0)"
        out[label] = f"""
INSERT INTO {t(MonthEndSnapshot)} (month_end, case_id, state, dpd, bucket, amount_overdue)
SELECT {E}, p.i,
  CASE WHEN p.legal_at IS NOT NULL AND p.legal_at < {local(E + " + 1", "0")} THEN 'legal'
       WHEN {dpd} >= 31 THEN 'visit' WHEN {dpd} >= 8 THEN 'call' ELSE 'reminder' END,
  {dpd}, {_bucket_of(dpd)},
  p.amount * LEAST(p.n_inst - p.paid_before, ({dpd} - 1) / 30 + 1)
FROM bench_pp p
WHERE p.d0 + 1 <= {E} AND (p.ended_on IS NULL OR p.ended_on >= {E})
ORDER BY p.i"""
    return out


def case_target(cursor, collector_id, open_states):
    """(case id, events) of the case page's case: the collector's open case with the most events
    (bench.pages._targets asks the same, so the plan built here lands on the page it measures)."""
    cursor.execute(
        f"""
        SELECT c.id, (SELECT COUNT(*) FROM {t(CaseEvent)} e WHERE e.case_id = c.id) AS n
        FROM {t(Case)} c WHERE c.assigned_to_id = %s AND c.state = ANY(%s) ORDER BY n DESC, c.id LIMIT 1""",
        [collector_id, list(open_states)],
    )
    return cursor.fetchone()


def _plans_sql(as_of, target):
    """The plans (see the module's docstring): a temporary table, then plans, instalments, events,
    the promise an activation withdraws and the cases' `updated_at` / `next_action_at`."""
    T = _d(as_of)
    ev = t(CaseEvent)
    proposer = "'user:collector' || lpad((b.collector + 1)::text, 4, '0')"
    out = {}
    out["plan_plan"] = f"""
CREATE TEMP TABLE bench_plans AS
WITH picked AS (
  SELECT p.i, p.collector, 'active' AS status, {PLAN_MONTHS} AS n, 14 AS first_in,
    LEAST(GREATEST(p.call_at + interval '1 day', now() - interval '95 days'), now() - interval '2 hours') AS proposed_at
  FROM bench_pp p WHERE p.i = {int(target)}
  UNION ALL
  SELECT x.i, x.collector, 'proposed', 7 + {H(70)} % 6, 7 + {H(73)} % 14,
    LEAST(GREATEST(x.call_at + interval '1 hour', now() - make_interval(secs => {H(71)} % 518400)),
          now() - interval '5 minutes')
  FROM (
    SELECT p.*, row_number() OVER (ORDER BY {H(72)}, i) AS rk FROM bench_pp p
    WHERE p.state IN ('call', 'visit') AND p.collector IS NOT NULL AND p.collector <> 0 AND p.i <> {int(target)}
  ) x WHERE x.rk <= {PLANS_WAITING}
), d AS (
  SELECT pk.*, (pk.proposed_at AT TIME ZONE '{LENDER_ZONE}')::date AS proposed_on,
    (pk.proposed_at AT TIME ZONE '{LENDER_ZONE}')::date + pk.first_in AS first_due
  FROM picked pk
), e AS (
  SELECT d.*, (d.first_due + make_interval(months => d.n - 1))::date AS last_due FROM d
)
SELECT row_number() OVER (ORDER BY e.proposed_at, e.i) AS id, e.*,
  CASE WHEN e.status = 'active' THEN LEAST(e.proposed_at + interval '20 hours', now() - interval '1 hour') END
    AS decided_at,
  m.balance, CASE WHEN e.status = 'active' THEN m.balance ELSE m.covered END AS total,
  {H(74, "e.i")} AS hp
FROM e JOIN LATERAL (
  SELECT SUM(li.amount_due - li.amount_paid) AS balance,
         SUM(li.amount_due - li.amount_paid) FILTER (WHERE li.due_date <= e.last_due) AS covered
  FROM {t(Instalment)} li WHERE li.loan_id = e.i
) m ON TRUE"""
    out["plans"] = f"""
INSERT INTO {t(RepaymentPlan)} (id, case_id, kind, status, reason, notes, total, discount, balance, monthly_income,
    essential_spending, needs_authority, proposed_by, proposed_by_user_id, decided_by, decided_by_user_id,
    decision_reason, created_at, decided_at, expires_on, ended_at, ended_by, end_reason)
SELECT b.id, b.i, 'plan', b.status,
  (ARRAY['income_loss', 'income_loss', 'illness', 'family', 'disaster', 'other'])[1 + b.hp % 6],
  (ARRAY['', '客户失业，新工作下月入职', '家人住院，收入减少', '工资降低三成，可按月还款'])[1 + (b.hp / 7) % 4],
  b.total, 0, b.balance,
  CASE WHEN b.hp % 2 = 0 THEN (4000 + (b.hp / 11) % 8000)::numeric(14, 2) END,
  CASE WHEN b.hp % 2 = 0 THEN ((4000 + (b.hp / 11) % 8000) * 0.6)::numeric(14, 2) END,
  'supervisor', {proposer}, {COLLECTOR_BASE} + b.collector,
  CASE WHEN b.status = 'active' THEN 'user:bench_supervisor' ELSE '' END,
  CASE WHEN b.status = 'active' THEN {SUPERVISOR_ID} END, '',
  b.proposed_at, b.decided_at, b.proposed_on + 7, NULL, '', ''
FROM bench_plans b ORDER BY b.id"""
    # split_evenly: equal cents, the left-over cents on the first ones. Active: the instalments due
    # before today met, and at least the first PLAN_PAID_AHEAD (paid ahead the day after activation,
    # so a young case's plan has a few met too).
    due = "(b.first_due + make_interval(months => g.j - 1))::date"
    met = f"(b.status = 'active' AND ({due} < {T} OR g.j <= {PLAN_PAID_AHEAD}))"
    out["plan_instalments"] = f"""
INSERT INTO {t(PlanInstalment)} (plan_id, number, due_date, amount, met, met_at)
SELECT b.id, g.j, {due},
  ((b.total * 100)::bigint / b.n + CASE WHEN g.j <= (b.total * 100)::bigint % b.n THEN 1 ELSE 0 END) / 100.0,
  {met},
  CASE WHEN {met} THEN LEAST({local(due, "36000")}, b.decided_at + interval '1 day', now() - interval '30 minutes') END
FROM bench_plans b CROSS JOIN LATERAL generate_series(1, b.n) AS g(j)
ORDER BY b.id, g.j"""
    ins = f"INSERT INTO {ev} (case_id, kind, actor, actor_user_id, from_state, to_state, reason, payload, at)"
    payload = (
        "jsonb_build_object('plan_id', b.id, 'kind', 'plan', 'status', {status}, 'total', b.total::text, "
        "'discount', '0.00', 'instalments', b.n, 'first_due_date', b.first_due::text, "
        "'last_due_date', b.last_due::text)"
    )
    out["events_plans"] = f"""{ins}
SELECT b.i, v.kind, v.actor, v.uid, '', '', '', v.payload, v.at
FROM bench_plans b CROSS JOIN LATERAL (VALUES
  ('plan_proposed', {proposer}, {COLLECTOR_BASE} + b.collector, {payload.format(status="'proposed'")}, b.proposed_at),
  ('plan_activated', 'user:bench_supervisor', {SUPERVISOR_ID}, {payload.format(status="'active'")}, b.decided_at)
) AS v(kind, actor, uid, payload, at)
WHERE v.at IS NOT NULL ORDER BY v.at"""
    # An activation withdraws the case's pending promise (services.plans.activate).
    out["events_withdrawn"] = f"""{ins}
SELECT b.i, 'promise_withdrawn', 'system', NULL, '', '', '', jsonb_build_object(
    'promise_id', pr.id, 'amount', pr.amount::text, 'plan_id', b.id), GREATEST(b.decided_at, pr.created_at + interval '1 minute')
FROM bench_plans b JOIN {t(PromiseToPay)} pr ON pr.case_id = b.i AND pr.status = 'pending'
WHERE b.status = 'active'"""
    out["promises_withdrawn"] = f"""
UPDATE {t(PromiseToPay)} pr SET status = 'withdrawn', settled_at = GREATEST(b.decided_at, pr.created_at + interval '1 minute')
FROM bench_plans b WHERE pr.case_id = b.i AND pr.status = 'pending' AND b.status = 'active'"""
    out["cases_touched"] = f"""
UPDATE {t(Case)} c SET updated_at = GREATEST(c.updated_at, COALESCE(b.decided_at, b.proposed_at)),
  next_action_at = CASE WHEN b.status = 'active' THEN (
    SELECT {local("pi.due_date + 1", "32400")} FROM {t(PlanInstalment)} pi
    WHERE pi.plan_id = b.id AND NOT pi.met ORDER BY pi.number LIMIT 1) ELSE c.next_action_at END
FROM bench_plans b WHERE c.id = b.i"""
    return out


def build_pages(cases, as_of, per_collector):
    as_of = date.fromisoformat(str(as_of))
    n = int(cases)
    collectors = max(1, -(-n // (4 * int(per_collector))))  # a quarter of the cases in collectors' hands
    timings = {}
    with connection.cursor() as cursor:
        cursor.execute("SET work_mem = '256MB'")
        for name, sql in (
            ("plan", plan_sql(n, as_of, collectors, per_collector)),
            ("activity", _activity_sql(as_of)),
            ("promise_plan", _promise_sql(as_of)),
            ("payment_plan", _payment_sql(as_of)),
        ):
            started = time.perf_counter()
            _run(cursor, sql)
            timings[name] = time.perf_counter() - started
        cursor.execute("ANALYZE bench_pp")
        cursor.execute("ANALYZE bench_act")
    inserted = {}
    with bulk_load(LOADED), connection.cursor() as cursor:
        for name, sql in _inserts(as_of, collectors).items():
            started = time.perf_counter()
            inserted[name] = _run(cursor, sql)
            timings[name] = time.perf_counter() - started
        started = time.perf_counter()
    timings["indexes"] = time.perf_counter() - started
    reset_sequences(LOADED + (get_user_model(),))
    with connection.cursor() as cursor:  # the plans, on the loaded (and indexed) tables
        target, _events = case_target(cursor, COLLECTOR_BASE, OPEN_STATES)
        for name, sql in _plans_sql(as_of, target).items():
            started = time.perf_counter()
            inserted[name] = _run(cursor, sql)
            timings[name] = time.perf_counter() - started
        cursor.execute(
            "SELECT COUNT(*) FILTER (WHERE status = 'active'), COUNT(*) FILTER (WHERE status = 'proposed'), "
            "MIN(n) FILTER (WHERE status = 'proposed'), MAX(n) FILTER (WHERE status = 'proposed') FROM bench_plans"
        )
        plans_active, plans_waiting, waiting_min_n, waiting_max_n = cursor.fetchone()
        cursor.execute("DROP TABLE bench_plans")
    reset_sequences((RepaymentPlan, PlanInstalment, CaseEvent))
    started = time.perf_counter()
    vacuum(LOADED + (Queue, RepaymentPlan, PlanInstalment))
    with connection.cursor() as cursor:
        for table in (
            "auth_user",
            "auth_user_groups",
            Queue.members.through._meta.db_table,
            Visit.agents.through._meta.db_table,
        ):
            cursor.execute(f"VACUUM (FREEZE, ANALYZE) {table}")
    timings["vacuum"] = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("""
SELECT COUNT(*), COUNT(*) FILTER (WHERE state IN ('reminder','call','visit','legal')),
  COUNT(*) FILTER (WHERE collector IS NOT NULL AND state IN ('call','visit')),
  COUNT(*) FILTER (WHERE collector IS NOT NULL AND state IN ('resolved','closed')),
  COUNT(*) FILTER (WHERE reassigned)
FROM bench_pp""")
        total, open_cases, assigned_open, assigned_done, reassigned = cursor.fetchone()
        cursor.execute("SELECT COUNT(*) FROM (SELECT i FROM bench_act GROUP BY i HAVING COUNT(*) >= 60) x")
        long_cases = cursor.fetchone()[0]
        cursor.execute("SELECT COUNT(*) FILTER (WHERE due_today) FROM bench_prom")
        due_today = cursor.fetchone()[0]
        for temp in ("bench_pp", "bench_act", "bench_prom", "bench_pay"):
            cursor.execute(f"DROP TABLE {temp}")
    e1, e2 = month_ends(as_of)
    return {
        "expected": {
            "cases": total,
            "open": open_cases,
            "collectors": collectors,
            "per_collector": int(per_collector),
            "assigned_open": assigned_open,
            "assigned_done": assigned_done,
            "reassigned": reassigned,
            "long_timelines": long_cases,
            "promises_due_today": due_today,
            "field_agents": FIELD_AGENTS,
            "plan_case": target,
            "plans_active": plans_active,
            "plans_waiting": plans_waiting,
            "plans_waiting_instalments": [waiting_min_n, waiting_max_n],
        },
        "month_ends": [e1.isoformat(), e2.isoformat()],
        "inserted": inserted,
        "timings": timings,
        "rows": table_rows(LOADED + (RepaymentPlan, PlanInstalment)),
    }
