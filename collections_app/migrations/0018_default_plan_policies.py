"""Every strategy gets the contract's plan policy (operators edit it in the admin): plans up to 36
months, a first payment of at least 5 % of the total, 5 grace days, 7 days to decide a proposal,
settlements in at most 3 parts; collector 6 months no discount, supervisor 24 months and 20 %,
legal officer 36 months and 40 %, borrower self-service 6 months no discount."""

from django.db import migrations


def add_policies(apps, schema_editor):
    Strategy = apps.get_model("collections_app", "Strategy")
    PlanPolicy = apps.get_model("collections_app", "PlanPolicy")
    for strategy in Strategy.objects.filter(plan_policy__isnull=True):
        PlanPolicy.objects.create(strategy=strategy)


class Migration(migrations.Migration):
    dependencies = [("collections_app", "0017_plans_and_vulnerability")]

    operations = [migrations.RunPython(add_policies, migrations.RunPython.noop)]
