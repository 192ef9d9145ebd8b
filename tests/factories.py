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
            loan=loan, number=number, due_date=first_due + timedelta(days=30 * (number - 1)), amount_due=amount,
        )
    return loan


def overdue_case(*, days_overdue=10, actor=None, **kwargs):
    """An open case for a loan overdue by `days_overdue` days, opened by the service."""
    from collections_app.services import case_open_for_loan

    loan = loan_with_schedule(days_overdue=days_overdue, **kwargs)
    return case_open_for_loan(loan_id=loan.pk, actor=actor)
