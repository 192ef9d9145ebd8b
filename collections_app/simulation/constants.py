"""Every effect size of the simulated borrowers, in one place (docs/risk.md states them).

Propensities are built in log-odds: each trait or action adds its weight, and `propensity.sigmoid`
turns the sum into a probability. A trait's weight multiplies its distance from the middle
(trait - 0.5), so a weight of 3.0 spreads the borrowers over +-1.5 log-odds."""

# --- Hidden traits (traits.py) -------------------------------------------------------------------
# Income stability and willingness to pay: each uniform on [0, 1] from a stable hash of
# (seed, borrower external_id).
# A life event (job loss, illness): the calendar is cut into periods of LIFE_EVENT_PERIOD_DAYS; in
# each period a borrower meets one with chance LIFE_EVENT_CHANCE (less stable incomes more often, up
# to twice as often), lasting LIFE_EVENT_DAYS from a day of the period drawn by the same hash.
LIFE_EVENT_PERIOD_DAYS = 60
LIFE_EVENT_CHANCE = 0.25
LIFE_EVENT_DAYS = 30

# --- Paying (propensity.propensity): the chance of paying today what is asked --------------------
BASE_LOGIT = -3.6  # an average borrower, just overdue, untreated: about 2.7 % a day
STABILITY_WEIGHT = 3.0
WILLINGNESS_WEIGHT = 3.0
LIFE_EVENT_EFFECT = -1.5  # while a life event lasts
DPD_EFFECT_PER_30_DAYS = -0.4  # longer arrears pay less often (counted up to DPD_CAP)
DPD_CAP = 180
# What the system did lately, and how long the borrower remembers it (days, the day itself included).
REMINDER_EFFECT, REMINDER_MEMORY_DAYS = 0.5, 3  # a reminder (SMS or e-mail) sent to them
CALL_EFFECT, CALL_MEMORY_DAYS = 0.8, 7  # a telephone conversation with them (right party)
VISIT_EFFECT, VISIT_MEMORY_DAYS = 1.0, 14  # a home visit that met them
PLAN_EFFECT = 3.0  # on the due date of an active plan's instalment (what is asked: that instalment)
PROMISE_EFFECT = 2.2  # on the date they promised (what is asked: the promised amount)
DUE_EFFECT = 5.2  # a loan not overdue, on its instalment's due date (what is asked: that instalment)

# --- Answering and agreeing (propensity.p_answer, p_promise) -------------------------------------
ANSWER_LOGIT = -0.3  # an average borrower picks up a collector's call 43 % of the time
ANSWER_WILLINGNESS_WEIGHT = 3.0
ANSWER_LIFE_EVENT_EFFECT = -0.5
PROMISE_LOGIT = 0.3  # on a conversation, the chance to promise a date
PROMISE_WILLINGNESS_WEIGHT = 3.0
PROMISE_DAYS = (1, 7)  # the promised date: today + this many days (drawn)
# A conversation with a borrower in a life event (or with an unstable income) at PLAN_MIN_DPD or more
# days past due ends in a repayment plan proposed by the collector (within a collector's authority).
PLAN_STABILITY_BELOW = 0.2
PLAN_MIN_DPD = 15
PLAN_MONTHS = 3
PLAN_FIRST_DUE_DAYS = 7

# --- The staff (collectors.py) -------------------------------------------------------------------
CALLS_PER_COLLECTOR = 12  # cases from the top of each collector's worklist, called each day
SHIFT_START_HOUR, SHIFT_END_HOUR = 9, 21  # the lender's time; calls are spread over the shift
VISITS_PER_DAY = 4  # visits the supervisor plans each morning (two field agents each), made next day
VISIT_MEET_CHANCE = 0.6  # the borrower is at home
PARTIAL_PAY_SHARE = 0.5  # a borrower who does not pay all overdue pays half of it, with ...
PARTIAL_PAY_CHANCE = 0.25  # ... this chance relative to the full payment's chance
