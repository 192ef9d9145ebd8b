"""`python -m bench reminders`: the reminder outbox, planning and dispatching, against the naive
one-row-at-a-time loop.

M instalments/steps are due as of yesterday (so every message is due now): half pre-due SMS, a
quarter of overdue loans with SMS + e-mail each; background loans with nothing to plan. Borrowers
consented to contact outside the window, so nothing is deferred. The SMS backend is
bench.backends.NullSmsBackend (accepts everything), e-mail goes to Django's locmem backend.
Both measurements start from a fresh CREATE DATABASE ... TEMPLATE copy, in their own process:
  real  - reminders_plan(as_of=...) once, then reminders_dispatch() until it claims nothing;
  naive - on a sample: one OutboundMessage per instalment and step with .save(), then each message
          loaded, checked, rendered, sent and saved one at a time; rates scaled to M.
"""

import json
import math
import time
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from . import report
from .db import Server, check_url, resolve_url, run_child, schema_signature, with_name

BUILD_VERSION = 1
DEFAULT_MESSAGES = 20_000
DEFAULT_BACKGROUND = 100_000
DEFAULT_SAMPLE = 1_000


# --- children -------------------------------------------------------------------------------


def child_build(messages, background, as_of):
    from django.core.management import call_command

    from . import portfolio

    started = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    migrate_s = time.perf_counter() - started
    result = portfolio.build_reminders(messages, background, as_of)
    result.update(migrate_s=migrate_s, build_s=time.perf_counter() - started)
    return result


def _outbox():
    from django.db.models import Count

    from collections_app.models import OutboundMessage

    return {
        f"{row['channel']}:{row['status']}": row["n"]
        for row in OutboundMessage.objects.values("channel", "status").annotate(n=Count("id"))
    }


def child_real(as_of):
    from django.conf import settings
    from django.core import mail

    from collections_app.services.reminders import reminders_dispatch, reminders_plan

    from .backends import NullSmsBackend
    from .child import Clock, memory_kb

    day = date.fromisoformat(as_of)
    mail.outbox = []
    with Clock() as plan_clock:
        planned = reminders_plan(as_of=day)
    rss_plan = memory_kb("VmHWM")
    after_plan = _outbox()
    totals, batches = {}, 0
    with Clock() as dispatch_clock:
        while True:
            done = reminders_dispatch()
            if done.claimed == 0:
                break
            batches += 1
            for key, value in vars(done).items():
                totals[key] = totals.get(key, 0) + value
    again = reminders_plan(as_of=day)
    return {
        "plan": {
            **plan_clock.as_dict(),
            "queued": planned.queued,
            "suppressed": planned.suppressed,
            "skipped": planned.skipped,
            "outbox": after_plan,
            "rss_peak_kb": rss_plan,
        },
        "dispatch": {
            **dispatch_clock.as_dict(),
            "batches": batches,
            "batch": settings.COLLECTIONS_DISPATCH_BATCH,
            "totals": totals,
            "null_sms": NullSmsBackend.sent,
            "emails": len(mail.outbox),
        },
        "outbox": _outbox(),
        "replan": {"queued": again.queued, "suppressed": again.suppressed},
    }


def child_naive(as_of, sample, messages):
    """The loop most code would write, on `sample` of the `messages` due, in the real plan's proportions."""
    from django.core import mail
    from django.db import transaction
    from django.db.models import F
    from django.utils import timezone

    from collections_app import compliance
    from collections_app.gateways import Outgoing, backend_for
    from collections_app.models import Case, Instalment, OutboundMessage, Strategy
    from collections_app.selectors.contacts import borrower_contact_facts
    from collections_app.services.reminders.preview import _Renderer
    from collections_app.workflow import OPEN_STATES

    from .child import Clock

    day = date.fromisoformat(as_of)
    mail.outbox = []
    strategy = Strategy.objects.prefetch_related("steps").get(product="")
    policy = compliance.policy_named(strategy.contact_policy)
    steps = list(strategy.steps.all())

    def due(step):
        return (
            Instalment.objects.filter(due_date=day - timedelta(days=step.offset_days), amount_paid__lt=F("amount_due"))
            .select_related("loan__borrower")
            .order_by("id")
        )

    # Untimed: how many each step has, to sample in proportion (e-mail steps skip borrowers without one).
    per_step = {
        step.pk: (due(step).exclude(loan__borrower__email="").count() if step.channel == "email" else due(step).count())
        for step in steps
    }
    total = sum(per_step.values())
    quota = {pk: math.ceil(sample * count / total) for pk, count in per_step.items()} if total else {}

    created = []
    plan_clock = Clock().__enter__()
    for step in steps:
        if not quota.get(step.pk):
            continue
        made = 0
        for instalment in due(step)[: quota[step.pk] * 2]:
            if made >= quota[step.pk]:
                break
            borrower = instalment.loan.borrower
            address = borrower.primary_phone if step.channel == "sms" else borrower.email
            if not address:
                continue
            now = timezone.now()
            send_at = datetime.combine(day, strategy.send_at, tzinfo=ZoneInfo(borrower.time_zone))
            decision = compliance.check_contact(
                facts=borrower_contact_facts(borrower, now), channel=step.channel, at=max(send_at, now), policy=policy
            )
            case = Case.objects.filter(loan_id=instalment.loan_id, state__in=OPEN_STATES).first()
            message = OutboundMessage(
                idempotency_key=f"plan:{instalment.loan_id}:{instalment.pk}:{step.pk}",
                borrower=borrower,
                loan_id=instalment.loan_id,
                instalment=instalment,
                case=case,
                step=step,
                channel=step.channel,
                template_code=step.template_code,
                to_address=address,
                status="queued" if decision.allowed else "suppressed",
                reason=decision.code,
                not_before=max(send_at, now),
            )
            message.save()
            created.append((message.pk, step.pk))
            made += 1
    plan_clock.__exit__(None, None, None)

    sent = 0
    send_clock = Clock().__enter__()
    for message_id, _step in created:
        with transaction.atomic():
            message = OutboundMessage.objects.select_for_update().get(pk=message_id)
            if message.status != "queued":
                continue
            now = timezone.now()
            decision = compliance.check_contact(
                facts=borrower_contact_facts(message.borrower, now), channel=message.channel, at=now, policy=policy
            )
            if not decision.allowed:
                message.status, message.reason = "suppressed", decision.code
                message.save()
                continue
            text, subject = _Renderer().render(message)
            answer = list(
                backend_for(message.channel).send(
                    [Outgoing(message.idempotency_key, message.to_address, text, subject or "")]
                )
            )[0]
            message.status, message.sent_at, message.rendered = "sent", timezone.now(), text
            message.provider_message_id, message.attempts = answer.provider_id, message.attempts + 1
            message.save()
            sent += 1
    send_clock.__exit__(None, None, None)
    return {
        "plan": {**plan_clock.as_dict(), "created": len(created)},
        "send": {**send_clock.as_dict(), "sent": sent},
        "emails": len(mail.outbox),
        "outbox": _outbox(),
        "per_step": per_step,
    }


CHILD_TASKS = {"reminders_build": child_build, "reminders_real": child_real, "reminders_naive": child_naive}


# --- parent ---------------------------------------------------------------------------------


def default_as_of():
    """Yesterday in the lender's zone: the plan's send time (10:00 local on the as-of day) has
    passed, so every planned message is due for the dispatcher now."""
    import os

    return datetime.now(ZoneInfo(os.environ.get("COLLECTIONS_TIME_ZONE", "Asia/Shanghai"))).date() - timedelta(days=1)


def add_arguments(parser):
    parser.add_argument("--messages", type=int, default=DEFAULT_MESSAGES, help="messages to plan and send")
    parser.add_argument("--background", type=int, default=DEFAULT_BACKGROUND, help="loans with nothing to plan")
    parser.add_argument("--sample", type=int, default=DEFAULT_SAMPLE, help="messages in the naive loop")
    parser.add_argument("--as-of", type=date.fromisoformat, help="plan date (default: lender's yesterday)")
    parser.add_argument("--reuse", action="store_true", help="reuse a template database built by an earlier run")
    parser.add_argument("--keep", action="store_true", help="keep the template database afterwards")


def _build(server, url, template, opts, as_of):
    signature = {
        "bench": "reminders",
        "version": BUILD_VERSION,
        "messages": opts.messages,
        "background": opts.background,
        "as_of": as_of.isoformat(),
        "migrations": schema_signature(),
    }
    stored = server.stored_build(template, signature) if opts.reuse else None
    if stored is not None:
        return stored
    server.create(template)
    built = run_child(
        "reminders_build",
        with_name(url, template),
        messages=opts.messages,
        background=opts.background,
        as_of=as_of.isoformat(),
    )
    built.update(signature=signature, size_bytes=server.size(template), reused=False)
    server.set_comment(template, json.dumps(built))
    return built


def command(opts):
    url = resolve_url(opts.database_url)
    name = check_url(url)
    if opts.messages < 4:
        raise SystemExit("bench reminders: --messages must be at least 4")
    as_of = opts.as_of or default_as_of()
    server = Server(url)
    template = f"{name}_reminders_template"
    started = time.perf_counter()
    print(
        f"bench reminders: {report.n(opts.messages)} messages as of {as_of.isoformat()}; "
        f"PostgreSQL {server.version()} at {url.split('@')[-1]}; {report.machine()}; load {report.load():.1f}",
        flush=True,
    )
    try:
        print(f"  building into {template} ...", flush=True)
        build = _build(server, url, template, opts, as_of)
        print("  plan + dispatch ...", flush=True)
        server.copy(template, name)
        load = report.load()
        real = run_child("reminders_real", url, as_of=as_of.isoformat())
        real["load"] = (load, report.load())
        server.drop(name)
        print(f"  naive loop on {report.n(opts.sample)} messages ...", flush=True)
        server.copy(template, name)
        load = report.load()
        naive = run_child("reminders_naive", url, as_of=as_of.isoformat(), sample=opts.sample, messages=opts.messages)
        naive["load"] = (load, report.load())
    finally:
        server.drop(name)
        if not opts.keep:
            server.drop(template)
        server.close()
    print()
    print(render(opts, as_of, build, real, naive, template, name, time.perf_counter() - started))


def render(opts, as_of, build, real, naive, template, name, total_s):
    e = build["expected"]
    plan, dispatch = real["plan"], real["dispatch"]
    planned = plan["queued"] + plan["suppressed"]
    sent = dispatch["totals"].get("sent", 0)
    plan_rate = planned / plan["seconds"]
    send_rate = sent / dispatch["seconds"] if dispatch["seconds"] else 0
    naive_plan_rate = naive["plan"]["created"] / naive["plan"]["seconds"]
    naive_send_rate = naive["send"]["sent"] / naive["send"]["seconds"]
    how = "reused" if build["reused"] else f"built in {build['build_s']:.1f} s"
    out = [
        f"snapshot: {template} ({build['size_bytes'] / 2**20:.0f} MB, {how}); each measurement starts from "
        f"CREATE DATABASE {name} TEMPLATE {template}, in its own process",
        f"data: {report.n(e['pre_due_sms'])} instalments due in 3 days (pre-due SMS), {report.n(e['overdue_sms'])} "
        f"due yesterday with an open case and an e-mail address (SMS + e-mail), {report.n(e['background'])} other loans; "
        f"default plan (6 steps); SMS backend bench.backends.NullSmsBackend, EMAIL_BACKEND locmem; "
        f"dispatch batch {dispatch['batch']}",
        "",
    ]
    rows = [
        [
            "reminders_plan",
            report.n(planned),
            report.secs(plan["seconds"]),
            report.cpu(plan),
            f"{plan_rate:,.0f}",
            report.ratio(plan_rate, naive_plan_rate),
            report.mb(plan["rss_peak_kb"]),
        ],
        [
            f"naive plan: .save() per message ({report.n(naive['plan']['created'])} sampled)",
            report.n(naive["plan"]["created"]),
            report.secs(naive["plan"]["seconds"]),
            report.cpu(naive["plan"]),
            f"{naive_plan_rate:,.0f}",
            "1.00x",
            "",
        ],
        [
            f"reminders_dispatch x {dispatch['batches']} until none claimed",
            report.n(sent),
            report.secs(dispatch["seconds"]),
            report.cpu(dispatch),
            f"{send_rate:,.0f}",
            report.ratio(send_rate, naive_send_rate),
            report.mb(real["rss_peak_kb"]),
        ],
        [
            f"naive send: one row at a time ({report.n(naive['send']['sent'])} sampled)",
            report.n(naive["send"]["sent"]),
            report.secs(naive["send"]["seconds"]),
            report.cpu(naive["send"]),
            f"{naive_send_rate:,.0f}",
            "1.00x",
            report.mb(naive["rss_peak_kb"]),
        ],
    ]
    out.append(
        report.table(["measurement", "messages", "seconds", "CPU s app+db", "msg/s", "vs naive", "peak RSS"], rows)
    )
    out.append(
        f"  (target >= 2,000 msg/s each; naive scaled to {report.n(e['messages'])} messages: plan "
        f"{e['messages'] / naive_plan_rate:.1f} s, send {e['messages'] / naive_send_rate:.1f} s; "
        f"real: {plan['seconds']:.1f} s + {dispatch['seconds']:.1f} s)"
    )
    out.append("")
    ok_plan = plan["queued"] == e["messages"] and plan["suppressed"] == 0
    out.append(
        f"check [{'ok' if ok_plan else 'MISMATCH'}]: planned {report.n(plan['queued'])} queued, "
        f"{report.n(plan['suppressed'])} suppressed, {report.n(plan['skipped'])} skipped (expected "
        f"{report.n(e['messages'])} queued); outbox after planning: {plan['outbox']}"
    )
    outbox = real["outbox"]
    ok_sent = (
        sent == e["messages"]
        and dispatch["null_sms"] == e["pre_due_sms"] + e["overdue_sms"]
        and dispatch["emails"] == e["overdue_email"]
        and outbox.get("sms:sent", 0) + outbox.get("email:sent", 0) == e["messages"]
    )
    out.append(
        f"check [{'ok' if ok_sent else 'MISMATCH'}]: dispatched {dispatch['totals']}; null SMS backend accepted "
        f"{report.n(dispatch['null_sms'])}, locmem e-mails {report.n(dispatch['emails'])}; outbox after: {outbox}"
    )
    replan = real["replan"]
    out.append(
        f"check [{'ok' if replan['queued'] == 0 and replan['suppressed'] == 0 else 'MISMATCH'}]: planning again "
        f"for the same date queued {replan['queued']}, suppressed {replan['suppressed']}"
    )
    out.append(
        f"check [{'ok' if naive['send']['sent'] == naive['plan']['created'] else 'MISMATCH'}]: naive sample "
        f"{naive['plan']['created']} planned, {naive['send']['sent']} sent ({naive['emails']} e-mails); "
        f"rows due per step {naive['per_step']}"
    )
    out.append(
        f"peak RSS is each child process's VmHWM (startup {report.mb(real['rss_startup_kb'])}; locmem keeps "
        f"every e-mail); CPU: the child + its PostgreSQL backend; 1-min load average {real['load'][0]:.1f} -> "
        f"{naive['load'][1]:.1f} on {report.machine()}; total {total_s:.0f} s"
    )
    return "\n".join(out)
