"""The default strategy and reminder plan, message templates in both languages, and the beat
schedules (rows, so operators change times in the admin without a deploy)."""
import json

from django.db import migrations

STEPS = [(-3, "sms", "pre_due"), (1, "sms", "overdue"), (1, "email", "overdue"), (3, "sms", "overdue"),
         (7, "sms", "overdue_firm"), (7, "email", "overdue_firm")]
TEMPLATES = [
    ("pre_due", "sms", "zh-hans", "", "【{lender}】尊敬的{name}，您的贷款{loan}本期应还{amount_due}元，将于{due_date}到期，请按时还款。{how_to_pay}"),
    ("pre_due", "sms", "en", "", "[{lender}] Dear {name}, {amount_due} CNY on loan {loan} is due on {due_date}. {how_to_pay}"),
    ("overdue", "sms", "zh-hans", "", "【{lender}】尊敬的{name}，您的贷款{loan}已逾期，逾期金额{amount_overdue}元，请尽快还款。{how_to_pay}如有疑问请联系客服。"),
    ("overdue", "sms", "en", "", "[{lender}] Dear {name}, loan {loan} is overdue by {amount_overdue} CNY. Please pay soon. {how_to_pay} Questions? Call us."),
    ("overdue", "email", "zh-hans", "您的贷款{loan}已逾期", "尊敬的{name}：\n\n您的贷款{loan}已逾期，逾期金额{amount_overdue}元。请尽快还款，以免影响您的信用记录。\n{how_to_pay}\n如有困难，欢迎联系我们商量还款安排。\n\n{lender}"),
    ("overdue", "email", "en", "Loan {loan} is overdue", "Dear {name},\n\nLoan {loan} is overdue by {amount_overdue} CNY. Please pay as soon as you can.\n{how_to_pay}\nIf you are in difficulty, contact us to agree a repayment plan.\n\n{lender}"),
    ("overdue_firm", "sms", "zh-hans", "", "【{lender}】尊敬的{name}，您的贷款{loan}逾期金额{amount_overdue}元仍未归还，请尽快还款或联系我们协商还款安排。{how_to_pay}"),
    ("overdue_firm", "sms", "en", "", "[{lender}] Dear {name}, {amount_overdue} CNY on loan {loan} is still unpaid. Please pay or contact us to agree a plan. {how_to_pay}"),
    ("overdue_firm", "email", "zh-hans", "请尽快处理逾期贷款{loan}", "尊敬的{name}：\n\n您的贷款{loan}逾期金额{amount_overdue}元仍未归还。请尽快还款，或联系我们协商还款计划。\n{how_to_pay}\n\n{lender}"),
    ("overdue_firm", "email", "en", "Please settle loan {loan}", "Dear {name},\n\n{amount_overdue} CNY on loan {loan} is still unpaid. Please pay, or contact us to agree a repayment plan.\n{how_to_pay}\n\n{lender}"),
]
# (name, task, schedule)
SCHEDULES = [
    ("Daily escalation sweep and reminder planning", "collections_app.tasks.sweep_task", {"crontab": ("30", "1")}),
    ("Dispatch due reminders", "collections_app.tasks.reminders_dispatch_task", {"every_seconds": 60}),
    ("Requeue reminders of dead workers", "collections_app.tasks.reminders_requeue_stale_task", {"every_seconds": 300}),
]


def forwards(apps, schema_editor):
    Strategy = apps.get_model("collections_app", "Strategy")
    ReminderStep = apps.get_model("collections_app", "ReminderStep")
    MessageTemplate = apps.get_model("collections_app", "MessageTemplate")
    strategy, _ = Strategy.objects.get_or_create(product="", defaults={"name": "Default"})
    for offset, channel, code in STEPS:
        ReminderStep.objects.get_or_create(strategy=strategy, offset_days=offset, channel=channel,
                                           defaults={"template_code": code})
    for code, channel, language, subject, body in TEMPLATES:
        MessageTemplate.objects.get_or_create(code=code, channel=channel, language=language,
                                              defaults={"subject": subject, "body": body})
    CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    for name, task, schedule in SCHEDULES:
        if PeriodicTask.objects.filter(name=name).exists():
            continue
        if "crontab" in schedule:
            minute, hour = schedule["crontab"]
            crontab, _ = CrontabSchedule.objects.get_or_create(
                minute=minute, hour=hour, day_of_week="*", day_of_month="*", month_of_year="*",
                timezone="Asia/Shanghai")
            PeriodicTask.objects.create(name=name, task=task, crontab=crontab, kwargs=json.dumps({}))
        else:
            interval, _ = IntervalSchedule.objects.get_or_create(every=schedule["every_seconds"], period="seconds")
            PeriodicTask.objects.create(name=name, task=task, interval=interval, kwargs=json.dumps({}))


def backwards(apps, schema_editor):
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name__in=[s[0] for s in SCHEDULES]).delete()


class Migration(migrations.Migration):
    dependencies = [("collections_app", "0003_engine"), ("django_celery_beat", "0019_alter_periodictasks_options")]
    operations = [migrations.RunPython(forwards, backwards)]
