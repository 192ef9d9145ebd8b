"""The `plan_confirmation` SMS in both languages: sent when a repayment plan becomes active
(services/plans/confirmation.py). Only the renderer's variables (services/reminders/preview.py);
the plan's own dates and amounts are on the printed agreement."""

from django.db import migrations

TEMPLATES = [
    (
        "plan_confirmation",
        "sms",
        "zh-hans",
        "【{lender}】尊敬的{name}，您的贷款{loan}的还款计划已生效。请按约定的日期还款，每期到期前我们会提醒您。{how_to_pay}",
    ),
    (
        "plan_confirmation",
        "sms",
        "en",
        "[{lender}] Dear {name}, your repayment plan for loan {loan} is active. Please pay on the agreed "
        "dates; we will remind you before each. {how_to_pay}",
    ),
]


def forwards(apps, schema_editor):
    MessageTemplate = apps.get_model("collections_app", "MessageTemplate")
    for code, channel, language, body in TEMPLATES:
        MessageTemplate.objects.get_or_create(code=code, channel=channel, language=language, defaults={"body": body})


def backwards(apps, schema_editor):
    MessageTemplate = apps.get_model("collections_app", "MessageTemplate")
    MessageTemplate.objects.filter(code="plan_confirmation", channel="sms").delete()


class Migration(migrations.Migration):
    dependencies = [("collections_app", "0019_care_templates")]

    operations = [migrations.RunPython(forwards, backwards)]
