"""A demo case's life as the services would have written it: its loan, opening, escalations,
assignments, payments, promises, contacts, referral, visit, hold and end (`_Builder.case`)."""

from __future__ import annotations

import json
from operator import itemgetter

from .common import _BUMPS, CALL_DAY, OPEN, STAGE_RANK, VISIT_DAY, _pick, money
from .people import HOLD_REASONS, STAGE_QUEUE


def _amounts_changed(t, actor, why, before, after, oldest_day):
    """The event row of a change of the amount overdue (from `before` to `after`, in cents)."""
    body = (
        f'{{"amount_overdue_before": "{money(before)}", "amount_overdue": "{money(after)}", '
        f'"oldest_unpaid_due_date": "{oldest_day}"}}'
    )
    return (t, "amounts_changed", actor, "", "", why, body)


class _CaseHistory:
    """The case rows of `_Builder` (portfolio.py); the case's parts are in activity.py."""

    def case(self, b, target=None):
        """One case and its loan. `target` forces the state (the first cases of a portfolio cover every
        state, away from the day boundaries, so even a tiny demo shows each)."""
        rnd, clock, f = self.rnd, self.clock, self.fmt
        now, today = clock.now, clock.today
        forced = target is not None
        if not forced:
            target = _pick(rnd, self.state_table)
        n = 12 if rnd.random() < 0.4 else 6
        sweep_off = rnd.randint(60, 900)
        pending_referral = False
        resolved_at = closed_at = None

        def sweep(o):
            return clock.midnight(None, o) + sweep_off

        # 1. Where the loan stands: the oldest unpaid instalment k fell due on D0.
        if target in OPEN:
            dpd = {"reminder": (1, 7), "call": (8, 30), "visit": (31, 60), "legal": (62, 150)}[target]
            if forced:
                dpd = {"reminder": (3, 6), "call": (10, 28), "visit": (33, 58), "legal": (70, 140)}[target]
            elif target == "visit" and rnd.random() < 0.1:
                dpd, pending_referral = (61, 90), not b.hold_at
            d = rnd.randint(*dpd)
            k = rnd.randrange(n)
            d0 = today - d
            end = b.hold_at or now  # escalation and work stop at a hold
            peak = STAGE_RANK[target]
        elif target == "resolved":
            peak = _pick(rnd, ((0.45, 0), (0.85, 1), (1.0, 2)))
            r_dpd = rnd.randint(*((1, 7), (8, 30), (31, 60))[peak])
            since = rnd.randint(12 if b.hold_at else 1, 120)
            k = rnd.randrange(n)
            d0 = today - since - r_dpd
            resolved_at = min(self._lender_at(d0 + r_dpd, 9, 20), now - 600)
            end = resolved_at
        else:  # closed: the loan matured, its last 1-3 instalments unpaid, closed long overdue
            m = min(n, rnd.randint(1, 3))
            k = n - m
            close_dpd = rnd.randint(max(91, (m - 1) * 31 + 3), 210)
            since = rnd.randint(12 if b.hold_at else 1, 180)
            d0 = today - since - close_dpd
            closed_at = self._lender_at(d0 + close_dpd, 10, 18)
            end = closed_at
            peak = 3 if (close_dpd >= 75 and rnd.random() < 0.5) else 2

        loan_id, dues, amt, inst0 = self._loan(b, n, d0, k)
        case_id = self._ids("case")
        paid = [amt] * k + [0] * (n - k)
        self._on_time_payments(loan_id, dues, amt, inst0, k)

        ev = []  # (at, kind, actor, from_state, to_state, reason, payload)
        opened_at = min(sweep(d0 + 1), now - 30)
        ev.append(
            (
                opened_at,
                "opened",
                "system",
                "",
                "reminder",
                "overdue",
                (f'{{"dpd": 1, "amount_overdue": "{money(amt)}", "oldest_unpaid_due_date": "{clock.ds(dues[k])}"}}'),
            )
        )

        # 2. Stage entries: the sweep at DPD 8 and 31, legal after an approved referral.
        entries = [(opened_at, "reminder")]
        if peak >= 1:
            t = sweep(d0 + CALL_DAY)
            if t < end:
                ev.append((t, "transition", "system", "reminder", "call", "", '{"transition": "start_calls"}'))
                entries.append((t, "call"))
        if peak >= 2 and len(entries) == 2:
            t = sweep(d0 + VISIT_DAY)
            if t < end:
                ev.append((t, "transition", "system", "call", "visit", "", '{"transition": "schedule_visit"}'))
                entries.append((t, "visit"))
        if (peak >= 3 or pending_referral) and len(entries) == 3:
            self._referral(ev, entries, case_id, d0, end, approve=peak >= 3, sweep=sweep)

        # 3. Queue and collector on each stage entry (the strategy's distribution, by the system).
        assignee, queue = None, None
        assigned_at = []  # (since, collector or None, stage) per stage entry
        for t, stage in entries:
            who = self._collector(stage)
            q = STAGE_QUEUE[stage]
            ev.append(
                (
                    t,
                    "assigned",
                    "system",
                    "",
                    "",
                    "",
                    json.dumps({"from_user": assignee, "to_user": who, "from_queue": queue, "to_queue": q}),
                )
            )
            assignee, queue = who, q
            assigned_at.append((t, who, stage))
        state = entries[-1][1]

        # 4. Money while the case is open: instalments falling due, a part payment, a resolution.
        partial = None  # (t, cents, actor)
        promise = None  # dict
        taken_days = []
        call_start = entries[1][0] if len(entries) > 1 else None
        contacts_end = end
        if call_start is not None:
            promise = self._promise_plan(
                b, target, call_start, end, d0, dues, k, amt, taken_days, resolved_at if target == "resolved" else None
            )
            if promise and promise.get("paid_at"):
                if target != "resolved":
                    partial = (promise["paid_at"], promise["amount"], promise["pay_actor"])
        settlement = None
        if target == "closed" and rnd.random() < 0.4:
            lo = max(clock.midnight(None, dues[-1] + 1) + 3600, entries[-1][0] + 3600, closed_at - 5 * 86400)
            if lo < closed_at - 3600:
                settlement = (rnd.randint(lo, closed_at - 3600), "system" if rnd.random() < 0.8 else "user:supervisor")

        def overdue(t):
            o = clock.lender_day(t)
            due = sum(amt for i in range(k, n) if dues[i] < o)
            if partial and t >= partial[0]:
                due -= partial[1]
            return due

        money_end = resolved_at or (settlement[0] if settlement else closed_at) or now
        for i in range(k + 1, n):
            t = sweep(dues[i] + 1)
            if t >= money_end:
                break
            after = overdue(t)
            ev.append(_amounts_changed(t, "system", f"instalment {i + 1} due", after - amt, after, clock.ds(dues[k])))

        pays = []  # (moment, {instalment index: cents}) of the payments made while the case is open
        if partial:
            t, cents, actor = partial
            pays.append((t, {k: cents}))
            before = overdue(t - 1)
            pid = self._pay(loan_id, t, cents, actor, [(inst0 + k, cents)])
            paid[k] = cents
            self._payment_events(ev, t, actor, pid, cents)
            ev.append(
                (t, "promise_kept", actor, "", "", "", f'{{"promise_id": {promise["id"]}, "amount": "{money(cents)}"}}')
            )
            ev.append(_amounts_changed(t, actor, f"payment DP{pid:07d}", before, before - cents, clock.ds(dues[k])))

        resolved_ts = closed_ts = f.null
        close_reason = ""
        if target == "resolved":
            actor = "system" if rnd.random() < 0.9 else "user:supervisor"
            t = resolved_at
            o = clock.lender_day(t)
            allocs = [(inst0 + i, amt) for i in range(k, n) if dues[i] < o]
            cents = amt * len(allocs)
            pid = self._pay(loan_id, t, cents, actor, allocs)
            for i in range(k, k + len(allocs)):
                paid[i] = amt
            self._payment_events(ev, t, actor, pid, cents)
            if promise:
                ev.append(
                    (
                        t,
                        "promise_kept",
                        actor,
                        "",
                        "",
                        "",
                        f'{{"promise_id": {promise["id"]}, "amount": "{money(promise["amount"])}"}}',
                    )
                )
            ev.append(
                (
                    t,
                    "transition",
                    actor,
                    state,
                    "resolved",
                    f"payment DP{pid:07d}",
                    '{"transition": "resolve", "amount_overdue": "0.00"}',
                )
            )
            state, resolved_ts = "resolved", clock.ts(t)
            # Later instalments paid on time: nothing falls overdue again.
            upto = sum(1 for x in dues if x < today)
            for i in range(k + len(allocs), upto):
                pt = clock.midnight(None, dues[i] - rnd.randint(0, 3)) + rnd.randint(9 * 3600, 20 * 3600)
                if pt <= t:
                    pt = t + rnd.randint(600, 3600)
                self._pay(loan_id, pt, amt, "system", [(inst0 + i, amt)])
                paid[i] = amt
        elif target == "closed":
            if settlement:
                t, actor = settlement
                before = sum(amt - paid[i] for i in range(k, n))
                cents = max(100, (before * rnd.randint(30, 80) // 100) // 100 * 100)
                left, allocs = cents, []
                for i in range(k, n):
                    take = min(left, amt - paid[i])
                    if take > 0:
                        allocs.append((inst0 + i, take))
                        paid[i] += take
                        left -= take
                pid = self._pay(loan_id, t, cents, actor, allocs)
                pays.append((t, {a - inst0: c for a, c in allocs}))
                self._payment_events(ev, t, actor, pid, cents)
                oldest = next(i for i in range(k, n) if paid[i] < amt)
                ev.append(
                    _amounts_changed(t, actor, f"payment DP{pid:07d}", before, before - cents, clock.ds(dues[oldest]))
                )
            close_reason = "settled" if settlement else "written_off"
            note = "和解结清" if close_reason == "settled" and not b.en else ""
            ev.append(
                (
                    closed_at,
                    "transition",
                    "user:supervisor",
                    state,
                    "closed",
                    close_reason,
                    json.dumps({"transition": "close", **({"note": note} if note else {})}, ensure_ascii=False),
                )
            )
            state, closed_ts = "closed", clock.ts(closed_at)
        self.by_state[state] += 1

        # 5. Contacts (and the promise's), before a hold and while the case is worked.
        if call_start is not None:
            if target not in OPEN:
                count = rnd.randint(1, 3)
            else:
                count = rnd.randint(1, 4) if state == "call" else rnd.randint(2, 6)
            count = min(count, (contacts_end - call_start) // 86400 + 1)
            moments = self._contact_days(b, call_start, contacts_end, count, taken_days)
            for t in moments:
                self._contact(ev, b, case_id, t, _pick(rnd, self.outcomes), assigned_at)
            if promise:
                self._promise_rows(ev, b, case_id, promise, assigned_at)

        # 6. Holds, visits.
        next_action = f.null
        if promise and promise["status"] == "pending":
            next_action = clock.ts(clock.midnight(None, promise["due"] + 1) + 9 * 3600)
        elif state in ("call", "visit", "legal") and rnd.random() < 0.35:
            next_action = clock.ts(now + rnd.randint(3600, 3 * 86400) // 900 * 900)
        if state in OPEN and b.hold_at and b.hold_at > opened_at:
            ev.append(
                (
                    b.hold_at,
                    "hold_placed",
                    "user:supervisor",
                    "",
                    "",
                    HOLD_REASONS[b.hold_code][b.en],
                    (f'{{"hold_id": {b.hold_id}, "code": "{b.hold_code}", "source": "staff", "ends_at": null}}'),
                )
            )
        if state == "visit" and not b.hold_at and rnd.random() < 0.3:
            self._visit(ev, b, case_id, entries[-1][0])

        # 6b. Care: a plan that expired or broke, a vulnerability marker (care.py says what keeps them true).
        if (
            state in ("call", "visit")
            and not b.hold_at
            and promise is None
            and not pending_referral
            and self._wants_history_plan()
        ):
            self._history_plan(ev, b, case_id, entries, assigned_at, dues, k, amt, paid, sweep)
        if state in OPEN and b.single and not b.hold_at and self._wants_marker():
            self._marker(ev, b, case_id, assigned_at)

        # 7. The case row and its timeline in order.
        ev.sort(key=itemgetter(0))
        updated = max(e[0] for e in ev if e[1] in _BUMPS)
        oldest_ts, amount = f.null, 0
        if state not in ("resolved",):
            unpaid = [i for i in range(k, n) if paid[i] < amt and dues[i] < today]
            if unpaid:
                oldest_ts = clock.ds(dues[unpaid[0]])
                amount = sum(amt - paid[i] for i in unpaid)
        dpd_now = (today - dues[k]) if state in OPEN else 0
        if state in OPEN:
            priority = max(0, min(100, int(dpd_now * 0.45 + min(35, amount / 40000) + rnd.random() * 25)))
        else:
            priority = rnd.randint(0, 20)
        self.t["case"].rows.append(
            (
                case_id,
                state,
                loan_id,
                b.id,
                oldest_ts,
                money(amount),
                self.uid[assignee] if assignee else f.null,
                self.qid[queue],
                priority,
                next_action,
                clock.ts(opened_at),
                resolved_ts,
                closed_ts,
                close_reason,
                clock.ts(updated),
            )
        )
        self._instalments(loan_id, dues, amt, inst0, paid)
        self._snapshots(case_id, opened_at, resolved_at or closed_at, entries, dues, k, amt, pays, sweep)
        rows, first = self.t["event"].rows, self._ids("event", len(ev))
        who = self.user_of_label
        ts = clock.ts
        for j, (t, kind, actor, fs, tos, reason, payload) in enumerate(ev):
            rows.append((first + j, case_id, kind, actor, who[actor], fs, tos, reason, payload, ts(t)))
