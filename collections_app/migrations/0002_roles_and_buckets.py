"""The six roles as groups with their admin permissions, and the default DPD buckets (editable data)."""
from django.contrib.auth.management import create_permissions
from django.db import migrations

ROLES = ("collector", "field_agent", "supervisor", "legal_officer", "auditor", "admin")
EVERY_MODEL = (
    "borrower", "borrowercontact", "hold", "loan", "instalment", "payment", "paymentallocation", "case",
    "contactattempt", "promisetopay", "visit", "legalreferral", "queue", "bucket", "caseevent", "auditlog",
)
# Admin permissions per role: reads for whoever needs the admin, a few data edits for supervisors.
# State changes never come from these: they go through the services.
PERMISSIONS = {
    "collector": [f"view_{m}" for m in ("case", "borrower", "loan", "instalment", "payment", "caseevent")],
    "field_agent": [f"view_{m}" for m in ("case", "visit", "borrower")],
    "legal_officer": [f"view_{m}" for m in ("case", "legalreferral", "borrower", "loan", "caseevent")],
    "supervisor": [f"view_{m}" for m in EVERY_MODEL if m != "auditlog"]
    + ["add_queue", "change_queue", "change_bucket", "add_bucket"],
    "auditor": [f"view_{m}" for m in EVERY_MODEL],
    "admin": [f"{verb}_{m}" for m in EVERY_MODEL for verb in ("view", "add", "change")]
    + ["delete_queue", "delete_bucket"],
}
BUCKETS = (("1-7", 1, 7), ("8-30", 8, 30), ("31-60", 31, 60), ("61-90", 61, 90), ("91+", 91, None))


def forwards(apps, schema_editor):
    app_config = apps.get_app_config("collections_app")
    app_config.models_module = True
    create_permissions(app_config, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role in ROLES:
        group, _ = Group.objects.get_or_create(name=role)
        perms = Permission.objects.filter(content_type__app_label="collections_app", codename__in=PERMISSIONS[role])
        group.permissions.add(*perms)
    Bucket = apps.get_model("collections_app", "Bucket")
    for name, low, high in BUCKETS:
        Bucket.objects.get_or_create(name=name, defaults={"min_dpd": low, "max_dpd": high})


def backwards(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()
    apps.get_model("collections_app", "Bucket").objects.filter(name__in=[b[0] for b in BUCKETS]).delete()


class Migration(migrations.Migration):
    dependencies = [("collections_app", "0001_initial"), ("auth", "0012_alter_user_first_name_max_length")]
    operations = [migrations.RunPython(forwards, backwards)]
