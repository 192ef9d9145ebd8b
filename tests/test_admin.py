"""/admin/ is for the `admin` group (operators) only, and shows personal data masked as the pages do."""

import importlib

import pytest
from django.apps import apps as django_apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from collections_app import roles as r
from collections_app.masking import mask_name, mask_phone
from collections_app.models import BorrowerContact, ContactAttempt

from .factories import BorrowerContactFactory, BorrowerFactory, UserFactory, assigned_case

pytestmark = pytest.mark.django_db

NOT_OPERATORS = (r.COLLECTOR, r.FIELD_AGENT, r.SUPERVISOR, r.LEGAL_OFFICER, r.AUDITOR)


def migration(name):
    return importlib.import_module(f"collections_app.migrations.{name}")


@pytest.fixture
def old_style_staff(reference_data):
    """Users as seed_demo and migration 0002 left them: every role staff, every group with admin views."""
    migration("0002_roles_and_buckets").forwards(django_apps, None)
    return {role: UserFactory(username=f"old_{role}", roles=[role], is_staff=True) for role in NOT_OPERATORS}


@pytest.mark.parametrize("role", NOT_OPERATORS)
def test_no_role_but_admin_reaches_the_admin_even_when_staff_with_view_rights(
    role, client, old_style_staff, supervisor, collector
):
    user = old_style_staff[role]
    case = assigned_case(to=collector, by=supervisor)
    client.force_login(user)
    for url in (
        "/admin/",
        f"/admin/collections_app/case/{case.pk}/change/",
        "/admin/collections_app/borrower/",
        "/admin/collections_app/caseevent/",
    ):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/"), url


def test_an_operator_sees_masked_lists_and_detail_pages(client, admin_user, supervisor, collector):
    admin_user.is_staff = True
    admin_user.save()
    borrower = BorrowerFactory(name="王小明", phones=["13912345678"], national_id="110101199001011234")
    contact = BorrowerContactFactory(borrower=borrower, name="李大华", phone="13700001111")
    case = assigned_case(to=collector, by=supervisor, borrower=borrower)
    from collections_app import services

    attempt = services.contact_log(case_id=case.pk, actor=collector, channel="call", outcome="no_answer")
    client.force_login(admin_user)
    pages = [
        "/admin/collections_app/borrower/",
        f"/admin/collections_app/borrower/{borrower.pk}/change/",
        f"/admin/collections_app/contactattempt/{attempt.pk}/change/",
        f"/admin/collections_app/case/{case.pk}/change/",
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        body = response.content.decode()
        for secret in (borrower.name, "13912345678", borrower.national_id, contact.name, contact.phone):
            assert secret not in body, (url, secret)
    listing = client.get("/admin/collections_app/borrower/").content.decode()
    assert mask_name(borrower.name) in listing and mask_phone("13912345678") in listing
    detail = client.get(f"/admin/collections_app/borrower/{borrower.pk}/change/").content.decode()
    assert mask_name(contact.name) in detail and mask_phone(contact.phone) in detail
    assert ContactAttempt.objects.get().phone == "13912345678"  # masked on the page, stored as it was
    assert BorrowerContact.objects.get().name == "李大华"


def test_a_superuser_is_an_operator(client, superuser):
    client.force_login(superuser)
    assert client.get("/admin/").status_code == 200


def test_migration_takes_admin_rights_and_staff_from_everyone_but_operators(old_style_staff, admin_user):
    admin_user.is_staff = True
    admin_user.save()
    assert Group.objects.get(name=r.COLLECTOR).permissions.exists()
    migration("0012_admin_for_operators_only").forwards(django_apps, None)
    for role in NOT_OPERATORS:
        assert not Group.objects.get(name=role).permissions.exists(), role
    staff = set(get_user_model().objects.filter(is_staff=True).values_list("username", flat=True))
    assert staff == {admin_user.username}
    assert Group.objects.get(name=r.ADMIN).permissions.exists()


def test_seed_demo_makes_only_the_admin_user_staff(db):
    from collections_app.demo.people import ensure_demo_users

    ensure_demo_users(password="demo12345")
    staff = set(get_user_model().objects.filter(is_staff=True).values_list("username", flat=True))
    assert staff == {"admin"}


def test_an_operator_opens_pages_added_after_the_groups_were_made_but_deletes_nothing(client, admin_user):
    """The admin group's stored permissions date from migration 0002; strategies, plan policies and
    plans came later and an operator still reaches them (auth_backends.OperatorsPermissionBackend)."""
    admin_user.is_staff = True
    admin_user.save()
    client.force_login(admin_user)
    for url in (
        "/admin/collections_app/strategy/",
        "/admin/collections_app/planpolicy/",
        "/admin/collections_app/repaymentplan/",
        "/admin/collections_app/vulnerabilitymarker/",
        "/admin/collections_app/messagetemplate/",
    ):
        assert client.get(url).status_code == 200, url
    assert admin_user.has_perm("collections_app.change_strategy")
    assert not admin_user.has_perm("collections_app.delete_case")


def test_the_operators_backend_gives_nothing_to_other_roles(collector, supervisor):
    for user in (collector, supervisor):
        assert not user.has_perm("collections_app.view_case")
        assert not user.has_module_perms("collections_app")
