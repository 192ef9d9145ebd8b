"""/admin/ is for the `admin` group only (CONTRACT.md): the other role groups lose the admin model
permissions migration 0002 gave them, and users outside the admin group stop being staff.

The admin site itself refuses everyone outside the group (admin_site.OperatorsAdminSite); this makes
the data say the same. Backwards restores 0002's permissions (not anyone's staff flag: who was staff
before is not recorded)."""
import importlib

from django.db import migrations

NON_ADMIN_ROLES = ("collector", "field_agent", "supervisor", "legal_officer", "auditor")


def _given_by_0002():
    return importlib.import_module("collections_app.migrations.0002_roles_and_buckets").PERMISSIONS


def forwards(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    User = apps.get_model("auth", "User")
    given = _given_by_0002()
    for group in Group.objects.filter(name__in=NON_ADMIN_ROLES):
        perms = Permission.objects.filter(content_type__app_label="collections_app", codename__in=given[group.name])
        group.permissions.remove(*perms)
    User.objects.filter(is_staff=True).exclude(groups__name="admin").exclude(is_superuser=True).update(is_staff=False)


def backwards(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    given = _given_by_0002()
    for group in Group.objects.filter(name__in=NON_ADMIN_ROLES):
        perms = Permission.objects.filter(content_type__app_label="collections_app", codename__in=given[group.name])
        group.permissions.add(*perms)


class Migration(migrations.Migration):
    dependencies = [("collections_app", "0011_file_jobs_purge_schedule"), ("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(forwards, backwards)]
