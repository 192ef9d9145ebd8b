"""Demo data (not a write path users take, so not under services/): the demo users and queues, and a
synthetic portfolio loaded set-based. `seed.seed_demo` runs it; the modules: `people` (users, queues,
borrowers), `portfolio` (the generator), `history`, `activity` and `care` (a case's life: its plans
that expired or broke, a vulnerability marker), `rows` (writing the chunks), `common` (clock, shares,
helpers), `live_plans` (after the load, plans in the other statuses made through the services). This
package re-exports nothing.

The portfolio is not built through the one-row services (they run ~500 cases/s here, PITFALLS.md):
rows are generated as tuples in chunks, with primary keys assigned here (from each table's current
maximum), and inserted with PostgreSQL COPY (``executemany`` on SQLite), one transaction per chunk.
The data is nevertheless what the services would have written, as if the system had been running:

* each case opens on the sweep of its first day past due (one ``opened`` event, to ``reminder``),
  escalates on the sweep at DPD 8 (``start_calls``) and 31 (``schedule_visit``), reaches ``legal`` only
  through an approved ``LegalReferral``; ``resolve`` follows the payment that clears the arrears (with
  that payment's actor), ``close`` is a supervisor's with reason ``settled`` or ``written_off``;
* payments are allocated oldest instalment first (``PaymentAllocation`` rows add up to each
  instalment's ``amount_paid``), so the instalments before the oldest unpaid one are paid;
* ``Case.oldest_unpaid_due_date`` / ``amount_overdue`` are what ``selectors.book.loan_arrears`` answers
  today (instalments due before ``lender_today()``); resolved cases have nothing past due; the loans
  of closed cases matured before the close, so their amounts stay true as days pass;
* contacts happen 09:00-20:00 in the borrower's zone, one a day at most (eight days apart for US
  borrowers, Regulation F), never under a hold, so none breaks a rule (``breach`` empty);
* a hold stops escalation: a case whose borrower went on hold stays at the stage it had then;
* each past month's last day has the month-end snapshot the sweep of that day would have written
  (``MonthEndSnapshot``: one row per case open at that sweep, with its stage then and the DPD, bucket
  and amount overdue of that day), so the dashboard's roll and cure rates show on a fresh demo.

* a share of open cases carry a repayment plan that expired undecided or that the sweep broke, and a
  few borrowers a vulnerability marker (care.py says what keeps their timelines true); plans waiting,
  active, declined, cancelled and kept (a kept settlement closing its case) are made through the
  services on this run's cases (live_plans.py).

Columns the generator does not know (a field added later) are filled with the field's default, or
left to the database when it has a ``db_default``; a required field with neither stops the load.
"""
