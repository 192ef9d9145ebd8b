"""The parts of a demo case's history: month-end snapshots, payment events, a legal referral,
promises, contacts and a visit (mixed into `_Builder`, portfolio.py)."""

from __future__ import annotations

from bisect import bisect_left

from .common import LEGAL_DAY, NOTES, money
from .people import COLLECTORS


class _CaseActivity:
    """Rows a case's history adds (history.py calls these)."""

    def _snapshots(self, case_id, opened_at, ended_at, entries, dues, k, amt, pays, sweep):
        """The rows the sweep of each past month's last day wrote for this case while it was open: its
        stage at that sweep, and DPD, bucket and amount overdue as of that day (instalments due before
        it, less the payments made by then), as `_SqlSteps.snapshot` computes them."""
        clock, rows = self.clock, self.t["snapshot"].rows
        n = len(dues)
        for me in self.month_ends[bisect_left(self.month_ends, clock.lender_day(opened_at)) :]:
            t = sweep(me)
            if t < opened_at:
                continue
            if ended_at is not None and t >= ended_at:
                break
            stage = entries[0][1]
            for at, entered in entries:
                if at <= t:
                    stage = entered
            paid = [0] * n
            for at, alloc in pays:
                if at <= t:
                    for i, cents in alloc.items():
                        paid[i] += cents
            unpaid = [i for i in range(k, n) if dues[i] < me and paid[i] < amt]
            dpd = me - dues[unpaid[0]] if unpaid else 0
            amount = sum(amt - paid[i] for i in unpaid)
            bucket = next((name for lo, hi, name in self.buckets if dpd >= lo and (hi is None or dpd <= hi)), "")
            rows.append((self._ids("snapshot"), clock.ds(me), case_id, stage, dpd, bucket, money(amount)))

    def _payment_events(self, ev, t, actor, pid, cents):
        ev.append(
            (
                t,
                "payment_recorded",
                actor,
                "",
                "",
                "",
                (
                    f'{{"external_id": "DP{pid:07d}", "amount": "{money(cents)}", "channel": "{self.last_channel}", '
                    f'"paid_at": "{self.clock.iso(t)}", "unapplied": "0.00"}}'
                ),
            )
        )

    def _referral(self, ev, entries, case_id, d0, end, *, approve, sweep):
        """A legal referral requested at DPD 61+ (by the sweep or the collector); approved (and the case
        referred to legal) a few days later when `approve`, else left pending."""
        rnd, clock, f = self.rnd, self.clock, self.fmt
        # An approved referral is decided by yesterday at the latest, so it is always in the past.
        last_day = clock.lender_day(end) - (1 if approve else 0)
        if last_day < d0 + LEGAL_DAY:
            return None
        day = min(d0 + LEGAL_DAY + rnd.randint(0, 4), last_day)
        by_system = rnd.random() < 0.5
        requester = "system" if by_system else f"user:{rnd.choice(COLLECTORS)}"
        asked = sweep(day) if by_system else self._lender_at(day, 9, 18)
        if asked >= end:
            return None
        rid = self._ids("referral")
        reason = "DPD 61+" if by_system else "多次联系无果，建议法律程序"
        row = [
            rid,
            case_id,
            "requested",
            reason,
            requester,
            self.user_of_label[requester],
            clock.ts(asked),
            "",
            f.null,
            f.null,
            "",
        ]
        ev.append((asked, "legal_referral_requested", requester, "", "", reason, f'{{"referral_id": {rid}}}'))
        if approve:
            decided = self._lender_at(min(day + rnd.randint(0, 3), last_day), 9, 18)
            decided = max(decided, asked + 1800)
            if decided < end:
                decider = "user:legal_officer" if rnd.random() < 0.7 else "user:supervisor"
                row[2], row[7], row[8], row[9] = "approved", decider, self.user_of_label[decider], clock.ts(decided)
                ev.append((decided, "legal_referral_approved", decider, "", "", "", f'{{"referral_id": {rid}}}'))
                ev.append(
                    (
                        decided,
                        "transition",
                        decider,
                        "visit",
                        "legal",
                        "",
                        (f'{{"transition": "refer_to_legal", "referral_id": {rid}}}'),
                    )
                )
                entries.append((decided, "legal"))
        self.t["referral"].rows.append(tuple(row))
        return rid

    def _promise_plan(self, b, target, call_start, end, d0, dues, k, amt, taken, resolved_at):
        """Maybe one promise to pay: kept (by a part payment, or by the resolving payment), broken, or
        still pending. Its contact's day is reserved in `taken`."""
        rnd, clock, now = self.rnd, self.clock, self.clock.now
        if target == "resolved":
            if rnd.random() >= 0.35:
                return None
            lo = max(call_start, resolved_at - 6 * 86400)
            moments = self._contact_days(b, lo, resolved_at - 7200, 1, taken)
            if not moments:
                return None
            c = moments[0]
            o = clock.lender_day(c)
            amount = sum(amt for i in range(k, len(dues)) if dues[i] < o)
            due = clock.lender_day(resolved_at) + rnd.randint(0, 3)
            return {
                "id": self._ids("promise"),
                "contact_at": c,
                "amount": amount,
                "due": due,
                "status": "kept",
                "settled_at": resolved_at,
            }
        if rnd.random() >= (0.3 if target == "closed" else 0.4):
            return None
        recent = target != "closed" and rnd.random() < 0.5
        lo = max(call_start, now - 5 * 86400) if recent else call_start
        # A closed case's promise falls due (and breaks) before any settlement, which comes in its last 5 days.
        hi = min(end, now - 3600) if target != "closed" else end - 14 * 86400
        moments = self._contact_days(b, lo, hi, 1, taken)
        if not moments:
            return None
        c = moments[0]
        o = clock.lender_day(c)
        due = o + rnd.randint(1, 7)
        plan = {"id": self._ids("promise"), "contact_at": c, "due": due, "status": "pending", "settled_at": None}
        if target != "closed" and not recent and rnd.random() < 0.5:
            # Kept by a part payment of the oldest instalment before the promised day ends.
            cents = max(100, (amt * rnd.randint(20, 80) // 100) // 100 * 100)
            pay_lo, pay_hi = c + 1800, min(clock.midnight(None, due + 1) - 60, end, now - 600)
            if cents < amt and pay_hi > pay_lo:
                t = rnd.randint(pay_lo, pay_hi)
                plan.update(
                    amount=cents,
                    status="kept",
                    settled_at=t,
                    paid_at=t,
                    pay_actor="system" if rnd.random() < 0.9 else "user:supervisor",
                )
                return plan
        plan["amount"] = max(100, (amt * rnd.randint(30, 100) // 100) // 100 * 100)
        check = clock.midnight(None, due + 1) + 9 * 3600
        if check < (end if target == "closed" else now):
            plan.update(status="broken", settled_at=check)
        return plan

    def _who(self, t, assigned_at):
        """The collector working the case at moment t (a queue member when it was unassigned)."""
        who = None
        for since, collector, _stage in assigned_at:
            if since <= t:
                who = collector
        return who or self.rnd.choice(COLLECTORS)

    def _contact(self, ev, b, case_id, t, outcome, assigned_at, notes=None):
        rnd = self.rnd
        collector = self._who(t, assigned_at)
        label = self.labels[collector]
        inbound = outcome in ("right_party_contact", "promise_made") and rnd.random() < 0.15
        direction = "inbound" if inbound else "outbound"
        if notes is None:
            notes = rnd.choice(NOTES[b.lang])
        cid = self._ids("contact")
        phone = b.phones[1] if len(b.phones) > 1 and rnd.random() < 0.3 else b.phones[0]
        self.t["contact"].rows.append(
            (
                cid,
                case_id,
                b.id,
                "call",
                direction,
                phone,
                outcome,
                notes,
                "",
                label,
                self.uid[collector],
                self.clock.ts(t),
                self.clock.ts(min(t + rnd.randint(30, 600), self.clock.now)),
            )
        )
        ev.append(
            (
                t,
                "contact_logged",
                label,
                "",
                "",
                notes[:200],
                (
                    f'{{"contact_id": {cid}, "channel": "call", "direction": "{direction}", "outcome": "{outcome}", '
                    f'"breach": null}}'
                ),
            )
        )
        return cid, collector

    def _promise_rows(self, ev, b, case_id, p, assigned_at):
        clock, f = self.clock, self.fmt
        c = p["contact_at"]
        cid, collector = self._contact(ev, b, case_id, c, "promise_made", assigned_at)
        label = self.labels[collector]
        created = c + self.rnd.randint(60, 300)
        self.t["promise"].rows.append(
            (
                p["id"],
                case_id,
                money(p["amount"]),
                clock.ds(p["due"]),
                p["status"],
                cid,
                label,
                self.uid[collector],
                clock.ts(created),
                clock.ts(p["settled_at"]) if p["settled_at"] else f.null,
            )
        )
        ev.append(
            (
                created,
                "promise_recorded",
                label,
                "",
                "",
                "",
                (f'{{"promise_id": {p["id"]}, "amount": "{money(p["amount"])}", "due_date": "{clock.ds(p["due"])}"}}'),
            )
        )
        if p["status"] == "broken":
            ev.append(
                (
                    p["settled_at"],
                    "promise_broken",
                    "system",
                    "",
                    "",
                    "",
                    (f'{{"promise_id": {p["id"]}, "amount": "{money(p["amount"])}"}}'),
                )
            )

    def _visit(self, ev, b, case_id, since):
        rnd, clock, f = self.rnd, self.clock, self.fmt
        now = clock.now
        lo = max(since + 3600, now - 5 * 86400)
        if lo >= now - 600:
            return
        planned = rnd.randint(lo, now - 600)
        when = clock.midnight(b.tz, clock.today + rnd.randint(1, 10)) + rnd.randint(10, 16) * 3600
        vid = self._ids("visit")
        self.t["visit"].rows.append(
            (vid, case_id, clock.ts(when), "planned", "", "", "user:supervisor", clock.ts(planned), f.null)
        )
        for agent in ("field_agent", "field_agent2"):
            self.t["visit_agent"].rows.append((self._ids("visit_agent"), vid, self.uid[agent]))
        ev.append(
            (
                planned,
                "visit_scheduled",
                "user:supervisor",
                "",
                "",
                "",
                (
                    f'{{"visit_id": {vid}, "scheduled_for": "{clock.iso(when)}", '
                    f'"agents": ["field_agent", "field_agent2"]}}'
                ),
            )
        )
