"""Rendering a message: the template in the borrower's language, its variables, the opt-out line;
the staff preview (name masked as the case page shows it) and the check of a template's variables."""

import string
from decimal import Decimal

from django.conf import settings

from ...masking import mask_name
from ...models import MessageTemplate, OutboundMessage

OPT_OUT_LINES = {
    ("sms", "zh-hans"): "回复TD退订",
    ("sms", "en"): "Reply STOP to opt out.",
    ("email", "zh-hans"): "如不希望再收到此类邮件，请直接回复“退订”。",
    ("email", "en"): "To stop these e-mails, reply UNSUBSCRIBE.",
}
HOW_TO_PAY = {
    "zh-hans": "可在App内或通过银行转账还款。",
    "en": "Pay in the app or by bank transfer.",
}
TEMPLATE_VARIABLES = {"name", "amount_overdue", "amount_due", "due_date", "loan", "how_to_pay", "lender"}


def template_problems(body):
    """Unknown or malformed {variables} in a template body (for the admin and the planner)."""
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(body) if name}
    except ValueError as error:
        return [str(error)]
    return sorted(names - TEMPLATE_VARIABLES)


def message_preview(*, case, template, channel="sms"):
    """A templated message on a case as the borrower would read it, in their language, but with
    their name masked as the case page shows it: a preview reveals nothing the page does not (and so
    writes no audit row). Nothing is stored; the dispatcher builds the real text when it sends."""
    message = OutboundMessage(
        borrower=case.borrower, loan=case.loan, case=case, channel=channel, template_code=template or ""
    )
    text, _subject = _Renderer().render(message, masked=True)
    return text


class _Renderer:
    def __init__(self):
        self.templates = {}

    def template(self, code, channel, language):
        key = (code, channel, language)
        if key not in self.templates:
            found = {t.language: t for t in MessageTemplate.objects.filter(code=code, channel=channel)}
            self.templates[key] = found.get(language) or found.get("zh-hans") or found.get("en")
        return self.templates[key]

    def render(self, message, *, masked=False, plan_instalment=None):
        """The message's text and subject. `masked`: the borrower's name as the pages show it (a
        preview for staff); the dispatcher renders the real text at send time. A plan reminder
        (`plan_instalment`) tells the plan instalment's amount and date."""
        borrower = message.borrower
        language = borrower.language if borrower.language in HOW_TO_PAY else "zh-hans"
        template = self.template(message.template_code, message.channel, language)
        if template is None:
            return None, None
        instalment = message.instalment
        amount_overdue = message.case.amount_overdue if message.case else Decimal("0.00")
        values = {
            "name": mask_name(borrower.name) if masked else borrower.name,
            "loan": message.loan.external_id if message.loan else "",
            "amount_overdue": f"{amount_overdue:,.2f}",
            "amount_due": f"{(instalment.amount_due - instalment.amount_paid):,.2f}" if instalment else "",
            "due_date": instalment.due_date.isoformat() if instalment else "",
            "how_to_pay": HOW_TO_PAY[language],
            "lender": settings.COLLECTIONS_LENDER_NAME,
        }
        if plan_instalment is not None:
            values["amount_due"] = f"{plan_instalment.amount:,.2f}"
            values["due_date"] = plan_instalment.due_date.isoformat()
        body = template.body.format_map(_Blank(values))
        opt_out = OPT_OUT_LINES.get((message.channel, language), "")
        text = f"{body} {opt_out}".strip() if message.channel == "sms" else f"{body}\n\n{opt_out}"
        return text, template.subject.format_map(_Blank(values))


class _Blank(dict):
    def __missing__(self, key):
        return ""
