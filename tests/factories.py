"""factory_boy factories. Cases are opened through the services (CONVENTIONS.md): `overdue_case`."""

from datetime import timedelta
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from collections_app.calendar import lender_today
from collections_app.models import Borrower, BorrowerContact, Instalment, Loan, Queue


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.django.Password("pw-12345")

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        if create and extracted:
            self.groups.add(*Group.objects.filter(name__in=extracted))


class BorrowerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Borrower

    external_id = factory.Sequence(lambda n: f"B{n:06d}")
    name = factory.Faker("name", locale="zh_CN")
    national_id = factory.Faker("ssn", locale="zh_CN")
    phones = factory.LazyFunction(lambda: ["13812348000"])
    email = factory.Faker("email")
    address = factory.Faker("address", locale="zh_CN")
    city = factory.Faker("city", locale="zh_CN")
    time_zone = "Asia/Shanghai"
    consent_after_hours = False


class BorrowerContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BorrowerContact

    borrower = factory.SubFactory(BorrowerFactory)
    name = factory.Faker("name", locale="zh_CN")
    relation = "spouse"
    phone = "13900001111"


class LoanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Loan

    external_id = factory.Sequence(lambda n: f"L{n:06d}")
    borrower = factory.SubFactory(BorrowerFactory)
    product = "consumer"
    principal = Decimal("6000.00")
    currency = "CNY"
    disbursed_on = factory.LazyFunction(lambda: lender_today() - timedelta(days=200))


class InstalmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Instalment

    loan = factory.SubFactory(LoanFactory)
    number = factory.Sequence(lambda n: n + 1)
    due_date = factory.LazyFunction(lender_today)
    amount_due = Decimal("1000.00")
    amount_paid = Decimal("0.00")


class QueueFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Queue
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"queue-{n}")


def loan_with_schedule(*, days_overdue, instalments=3, amount=Decimal("1000.00"), borrower=None, **loan_kwargs):
    """A loan whose first instalment fell due `days_overdue` days ago, then one a month."""
    loan = LoanFactory(borrower=borrower or BorrowerFactory(), **loan_kwargs)
    first_due = lender_today() - timedelta(days=days_overdue)
    for number in range(1, instalments + 1):
        Instalment.objects.create(
            loan=loan,
            number=number,
            due_date=first_due + timedelta(days=30 * (number - 1)),
            amount_due=amount,
        )
    return loan


def overdue_case(*, days_overdue=10, actor=None, **kwargs):
    """An open case for a loan overdue by `days_overdue` days, opened by the service."""
    from collections_app.services import case_open_for_loan

    loan = loan_with_schedule(days_overdue=days_overdue, **kwargs)
    return case_open_for_loan(loan_id=loan.pk, actor=actor)


# --- Cases in a given stage, built through the services -------------------------------------------

# Days overdue that open a case at each stage (strategy thresholds: call 8, visit 31).
DAYS_FOR_STAGE = {"reminder": 3, "call": 10, "visit": 40}


def fresh(case):
    """The case as the database has it now (a new instance, so no cached attributes)."""
    from collections_app.models import Case

    return Case.objects.get(pk=case.pk)


def assigned_case(*, to, by, days_overdue=10, queue=None, **kwargs):
    """An open case assigned (by the service, with `by` as the actor) to `to` and/or a queue."""
    from collections_app.services import case_assign

    case = overdue_case(days_overdue=days_overdue, **kwargs)
    case_assign(case_ids=[case.pk], actor=by, assignee=to, queue=queue)
    return fresh(case)


def legal_case(*, by, to=None, **kwargs):
    """A case in `legal`: opened in `visit`, referral requested and approved by `by` (a supervisor)."""
    from collections_app.services import case_assign, legal_referral_decide, legal_referral_request

    case = overdue_case(days_overdue=40, **kwargs)
    if to is not None:
        case_assign(case_ids=[case.pk], actor=by, assignee=to)
    referral = legal_referral_request(case_id=case.pk, actor=by, reason="no contact after visits")
    legal_referral_decide(referral_id=referral.pk, actor=by, approve=True, reason="file the claim")
    return fresh(case)


def case_in_state(state, *, supervisor, to=None):
    """A case in any state, reached only through services. `to` assigns it (open states only)."""
    from collections_app.services import case_transition, payment_record
    from django.utils import timezone

    if state == "legal":
        return legal_case(by=supervisor, to=to)
    if state in DAYS_FOR_STAGE:
        if to is None:
            return overdue_case(days_overdue=DAYS_FOR_STAGE[state])
        return assigned_case(to=to, by=supervisor, days_overdue=DAYS_FOR_STAGE[state])
    case = overdue_case(days_overdue=10) if to is None else assigned_case(to=to, by=supervisor, days_overdue=10)
    if state == "closed":
        case_transition(case_id=case.pk, transition="close", actor=supervisor, reason="written_off")
    elif state == "resolved":
        payment_record(
            external_id=f"P-resolve-{case.pk}",
            loan=case.loan,
            amount=case.amount_overdue,
            paid_at=timezone.now(),
            actor=supervisor,
        )
    else:
        raise ValueError(state)
    return fresh(case)


# --- The loan book (issue 6): request bodies for services/book.py and the book API -------------------


def book_loan_data(*, borrower, first_due_days_ago=10, instalments=3, amount="1000.00", principal="3000.00"):
    """A loan body (the API and service shape) whose first instalment fell due `first_due_days_ago`
    days ago (negative: in the future), then one every 30 days."""
    first_due = lender_today() - timedelta(days=first_due_days_ago)
    return {
        "borrower": borrower,
        "product": "consumer",
        "principal": principal,
        "currency": "CNY",
        "disbursed_on": (first_due - timedelta(days=30)).isoformat(),
        "instalments": [
            {"number": n, "due_date": (first_due + timedelta(days=30 * (n - 1))).isoformat(), "amount_due": amount}
            for n in range(1, instalments + 1)
        ],
    }


def book_borrower_data(**overrides):
    """A borrower body in the CONTRACT.md shape."""
    data = {
        "name": "王小明",
        "national_id": "110101199003071234",
        "phones": ["13812348000"],
        "email": "wxm@example.com",
        "address": "北京市朝阳区建国路1号",
        "city": "北京",
        "time_zone": "Asia/Shanghai",
        "language": "zh-hans",
        "consents": {"after_hours": False, "sms": True, "email": True},
        "holds": [],
        "contacts": [{"name": "王大明", "relation": "brother", "phone": "13700001111"}],
    }
    data.update(overrides)
    return data


def proposed_plan(case, actor, months, **extra):
    """A plan proposed through the service: `months` monthly instalments from a week today, reason
    income loss (`kind="settlement"`, `reason=`, `down_payment=`, ... as the service takes them)."""
    from collections_app.services.plans import plan_propose

    return plan_propose(
        case_id=case.pk,
        actor=actor,
        kind=extra.pop("kind", "plan"),
        reason=extra.pop("reason", "income_loss"),
        months=months,
        first_due_date=(lender_today() + timedelta(days=7)).isoformat(),
        **extra,
    )


def admin_inline_rows(page, changes=None):
    """The POST data of an admin change page's inline formsets as the page shows them (each row sent
    back unchanged; `changes(prefix, form)` may return fields to change in a row)."""
    data = {}
    for formset in page.context["inline_admin_formsets"]:
        fs = formset.formset
        data[f"{fs.prefix}-TOTAL_FORMS"] = fs.total_form_count()
        data[f"{fs.prefix}-INITIAL_FORMS"] = fs.initial_form_count()
        for form in fs.forms:
            for name, field in form.fields.items():
                value = form.initial.get(name, field.initial)
                if value is None or value is False:
                    continue
                data[f"{form.prefix}-{name}"] = getattr(value, "pk", value)
            if changes:
                data.update({f"{form.prefix}-{k}": v for k, v in (changes(fs.prefix, form) or {}).items()})
    return data
