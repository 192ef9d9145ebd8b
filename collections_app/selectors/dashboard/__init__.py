"""Every query of the portfolio dashboard, and the figures and tables built from them.

Each query function is one aggregate query in the database (or none) and returns plain rows (dicts
of str, int, Decimal and date), so the page, its CSV downloads and later the API and exports share
them. The figures are portfolio-wide: they are for actors who see every case (supervisors,
auditors, admins, a client with `cases:read`); see `period.require_portfolio_view`.

- `period.py`: the calendar month, money and rates, who may see the figures.
- `portfolio.py`: portfolio by bucket and stage, stage funnel, roll rates, cure rate.
- `activity.py`: promises to pay, money collected, contact rate.
- `plans.py`: repayment plans made, active, kept, broken, kept rates, forgiven (docs/dashboard.md).
- `tables.py`: table cells, labels and figures (presentation shared by the page and the files).
- `board.py`: `Dashboard`, the queries and tables of one period, kept in the shared cache.
- `figures.py`: `BoardFigures`, the charts of the page (mixed into `Dashboard`).

Import from the module; this package re-exports nothing.

Cost at scale (measured on PostgreSQL with the seeded 1,000,000-case portfolio, 5.1M payments,
7.9M events, 2M contacts; warm cache): buckets, snapshot presence, promises and a past month's
portfolio take under 60 ms; the live portfolio ~270 ms (it reads every open case); resolved/closed
~500 ms (no index on events by time: a partial index on CaseEvent(at) WHERE kind='transition' AND
to_state IN ('resolved','closed') makes it ~15 ms); roll matrix ~200-300 ms (a join of two
month-end snapshots); cure rate of a past month ~550 ms (one timeline lookup per case of the
snapshot; the current month's is a key join, ~200 ms); contact rate ~200-400 ms (COUNT DISTINCT over
a month of contacts); collected ~0.9-1.3 s (a month of payments, one timeline lookup per payment).
What cannot be read that fast is to be pre-aggregated: roll matrix and cure rate of a closed month
into a summary the sweep writes with the month-end snapshot (snapshots never change afterwards);
collected into per-(day, collector) totals kept by payment_record/payment_reverse (the payment's
case and holder fixed when it is recorded); worked/right-party cases into a per-(month, case) row
upserted by contact_log; the live portfolio into the sweep's daily (state, bucket) totals.
"""
