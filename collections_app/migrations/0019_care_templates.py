"""Message templates for repayment plans and for borrowers who need care (issue 11): `plan_pre_due`
(3 days before a plan instalment) and `plan_missed` (the day after one is missed), and the `care`
variant (`<code>_care`) of every reminder template and of the two plan ones, in zh-hans and en.
Care texts are kind: no deadlines, no consequences, an offer of help. Variables as MessageTemplate's
docstring lists them (a plan reminder's {amount_due} and {due_date} are the plan instalment's)."""

from django.db import migrations

# (code, channel, language, subject, body)
TEMPLATES = [
    (
        "plan_pre_due",
        "sms",
        "zh-hans",
        "",
        "【{lender}】尊敬的{name}，您还款计划的下一期{amount_due}元将于{due_date}到期，感谢您按计划还款。{how_to_pay}",
    ),
    (
        "plan_pre_due",
        "sms",
        "en",
        "",
        "[{lender}] Dear {name}, your plan payment of {amount_due} CNY is due on {due_date}. "
        "Thank you for keeping to your plan. {how_to_pay}",
    ),
    (
        "plan_missed",
        "sms",
        "zh-hans",
        "",
        "【{lender}】尊敬的{name}，我们尚未收到您还款计划中{due_date}到期的{amount_due}元。如有困难，请联系我们一起想办法。{how_to_pay}",
    ),
    (
        "plan_missed",
        "sms",
        "en",
        "",
        "[{lender}] Dear {name}, your plan payment of {amount_due} CNY due {due_date} has not arrived. "
        "If things are hard, please talk to us.",
    ),
    # --- care variants ---
    (
        "pre_due_care",
        "sms",
        "zh-hans",
        "",
        "【{lender}】{name}您好，温馨提示：贷款{loan}本期{amount_due}元将于{due_date}到期。如需帮助，请随时联系我们。",
    ),
    (
        "pre_due_care",
        "sms",
        "en",
        "",
        "[{lender}] Hello {name}, a gentle reminder: {amount_due} CNY on loan {loan} is due on {due_date}. "
        "If you need help, just contact us.",
    ),
    (
        "overdue_care",
        "sms",
        "zh-hans",
        "",
        "【{lender}】{name}您好，贷款{loan}有{amount_overdue}元尚未还款。我们理解您可能遇到困难，欢迎联系我们商量适合您的安排。",
    ),
    (
        "overdue_care",
        "sms",
        "en",
        "",
        "[{lender}] Hello {name}, {amount_overdue} CNY on loan {loan} is unpaid. We understand times may be hard; "
        "contact us to agree what suits you.",
    ),
    (
        "overdue_care",
        "email",
        "zh-hans",
        "关于您的贷款{loan}",
        "{name}您好：\n\n您的贷款{loan}有{amount_overdue}元尚未还款。我们理解您现在可能遇到困难，不必着急，"
        "欢迎在方便时联系我们，一起商量适合您的还款安排。\n{how_to_pay}\n\n{lender}",
    ),
    (
        "overdue_care",
        "email",
        "en",
        "About your loan {loan}",
        "Hello {name},\n\n{amount_overdue} CNY on loan {loan} is still unpaid. We understand things may be "
        "difficult right now. There is no rush: contact us whenever you are ready and we will agree an "
        "arrangement that suits you.\n{how_to_pay}\n\n{lender}",
    ),
    (
        "overdue_firm_care",
        "sms",
        "zh-hans",
        "",
        "【{lender}】{name}您好，贷款{loan}仍有{amount_overdue}元未还。如您有困难，我们可以安排更宽松的还款计划，请联系我们。",
    ),
    (
        "overdue_firm_care",
        "sms",
        "en",
        "",
        "[{lender}] Hello {name}, {amount_overdue} CNY on loan {loan} is still unpaid. If you are in difficulty "
        "we can offer a gentler plan; please contact us.",
    ),
    (
        "overdue_firm_care",
        "email",
        "zh-hans",
        "我们可以帮助您：贷款{loan}",
        "{name}您好：\n\n您的贷款{loan}仍有{amount_overdue}元未还。如果您正面临困难，我们可以为您安排更宽松的"
        "还款计划。欢迎在方便时联系我们。\n{how_to_pay}\n\n{lender}",
    ),
    (
        "overdue_firm_care",
        "email",
        "en",
        "We can help with loan {loan}",
        "Hello {name},\n\n{amount_overdue} CNY on loan {loan} is still unpaid. If you are facing difficulty, "
        "we can arrange a gentler repayment plan. Please contact us when it suits you.\n{how_to_pay}\n\n{lender}",
    ),
    (
        "plan_pre_due_care",
        "sms",
        "zh-hans",
        "",
        "【{lender}】{name}您好，温馨提示：您还款计划中的{amount_due}元将于{due_date}到期。如需帮助，请随时联系我们。",
    ),
    (
        "plan_pre_due_care",
        "sms",
        "en",
        "",
        "[{lender}] Hello {name}, a gentle reminder: your plan payment of {amount_due} CNY is due on {due_date}. "
        "If you need help, just contact us.",
    ),
    (
        "plan_missed_care",
        "sms",
        "zh-hans",
        "",
        "【{lender}】{name}您好，您还款计划中{due_date}的{amount_due}元尚未收到。如情况有变，请联系我们，我们可以一起调整计划。",
    ),
    (
        "plan_missed_care",
        "sms",
        "en",
        "",
        "[{lender}] Hello {name}, your plan payment of {amount_due} CNY due {due_date} has not arrived. "
        "If things changed, contact us to adjust the plan.",
    ),
]


def forwards(apps, schema_editor):
    MessageTemplate = apps.get_model("collections_app", "MessageTemplate")
    for code, channel, language, subject, body in TEMPLATES:
        MessageTemplate.objects.get_or_create(
            code=code, channel=channel, language=language, defaults={"subject": subject, "body": body}
        )


def backwards(apps, schema_editor):
    MessageTemplate = apps.get_model("collections_app", "MessageTemplate")
    for code, channel, language, _subject, _body in TEMPLATES:
        MessageTemplate.objects.filter(code=code, channel=channel, language=language).delete()


class Migration(migrations.Migration):
    dependencies = [("collections_app", "0018_default_plan_policies")]

    operations = [migrations.RunPython(forwards, backwards)]
