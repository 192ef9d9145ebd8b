"""The loan book: borrowers and loans created or updated by external id (issue 6), the one write
path behind PUT /api/v1/borrowers|loans/{external_id}/, the bulk loans endpoint and the file import
of borrowers and loans.

Rules every caller gets alike:

- Everything is validated before anything is written, and every bad field is named at once in one
  `DomainError("validation_error", fields={...})`. Nested fields are named with a path:
  `consents.sms`, `phones[1]`, `contacts[0].name`, `instalments[2].amount_due` (indexes count from 0,
  in the order sent). A refusal writes nothing.
- Keys absent from `data` are left as stored (on create: the model's defaults; `name` for a borrower,
  `borrower`, `principal` and `disbursed_on` for a loan are then required). Unknown keys are refused
  by name ("Unknown field."), so a typo never passes silently. `external_id` may be repeated in
  `data` when it equals the one addressed.
- "unchanged" writes nothing at all (not even `updated_at`, no event, no case sync).
- Rows are locked (`select_for_update`) for the whole upsert; a concurrent create of the same
  external id that loses the race to the unique constraint continues as an update of the winner.

The loan schedule (`instalments`) is the full schedule, matched by instalment `number`. Paid amounts
come only from payments and are kept: an instalment whose new `amount_due` is below what was already
paid on it, or that has money paid on it and is missing from the new schedule, refuses the whole
upsert with a field error (silently dropping or shrinking paid money would lose a payment's
allocation; the lender must reverse the payment first or keep the instalment). Without the key
`instalments` the stored schedule is left untouched (the file import of loans does that).

The package: `borrowers.py` (borrower_upsert), `loans.py` (loan_upsert, loan_upsert_many),
`instalments.py` (a loan's schedule: checked and applied), `shared.py` (results, who may write, the
checks of input every part uses). Import from the module; this package re-exports nothing.
"""
