from django.urls import include, path

from .. import hooks
from . import dashboard, desk, health, visits
from .cases import plans as case_plans
from .cases import views as cases
from .cases import vulnerability as case_vulnerability
from .exports import views as exports
from .supervisor import approvals, holds, queues, strategy_tests, vulnerability_reviews

app_name = "collections"

urlpatterns = [
    path("", desk.desk, name="desk"),
    path("worklist/", desk.worklist, name="worklist"),
    path("cases/<int:case_id>/", cases.case_page, name="case"),
    path("cases/<int:case_id>/timeline/", cases.timeline_page, name="case-timeline"),
    path("cases/<int:case_id>/contact-check/", cases.contact_check, name="case-contact-check"),
    path("cases/<int:case_id>/contacts/", cases.log_contact, name="case-log-contact"),
    path("cases/<int:case_id>/promises/", cases.record_promise, name="case-promise"),
    path("cases/<int:case_id>/notes/", cases.add_note, name="case-note"),
    path("cases/<int:case_id>/messages/", cases.send_message, name="case-message"),
    path("cases/<int:case_id>/messages/preview/", cases.message_preview, name="case-message-preview"),
    path("cases/<int:case_id>/legal-referral/", cases.request_legal_referral, name="case-legal-referral"),
    path("cases/<int:case_id>/transition/", cases.transition, name="case-transition"),
    path("cases/<int:case_id>/reveal/", cases.reveal, name="case-reveal"),
    path("cases/<int:case_id>/visits/", cases.schedule_visit, name="case-visit"),
    path("cases/<int:case_id>/next/", cases.next_case, name="case-next"),
    path("cases/<int:case_id>/plans/", case_plans.offer_plan, name="case-plan-offer"),
    path("cases/<int:case_id>/plans/<int:plan_id>/cancel/", case_plans.cancel_plan, name="case-plan-cancel"),
    path("cases/<int:case_id>/plans/<int:plan_id>/agreement/", case_plans.plan_agreement, name="case-plan-agreement"),
    path("cases/<int:case_id>/vulnerability/", case_vulnerability.set_vulnerability, name="case-vulnerability"),
    path(
        "cases/<int:case_id>/vulnerability/clear/",
        case_vulnerability.clear_vulnerability,
        name="case-vulnerability-clear",
    ),
    path(
        "cases/<int:case_id>/vulnerability/confirm/",
        case_vulnerability.confirm_vulnerability,
        name="case-vulnerability-confirm",
    ),
    path(
        "cases/<int:case_id>/vulnerability/reveal/",
        case_vulnerability.reveal_vulnerability_note,
        name="case-vulnerability-reveal",
    ),
    path("visits/", visits.my_visits, name="visits"),
    path("visits/<int:visit_id>/record/", visits.record_visit, name="visit-record"),
    path("queues/", queues.queues, name="queues"),
    path("queues/assign/", queues.assign, name="assign"),
    path("queues/<int:queue_id>/distribute/", queues.distribute, name="distribute"),
    path("queues/<int:queue_id>/distribute/preview/", queues.distribute_preview, name="distribute-preview"),
    path("queues/distribute/undo/", queues.distribute_undo, name="distribute-undo"),
    path("approvals/", approvals.approvals, name="approvals"),
    path("approvals/decide/", approvals.decide_referrals, name="approvals-decide"),
    path("approvals/plans/decide/", approvals.decide_plans, name="approvals-decide-plans"),
    path("approvals/<int:referral_id>/decide/", approvals.decide_referral, name="approval-decide"),
    path("holds/", holds.holds, name="holds"),
    path("holds/place/", holds.place_hold, name="hold-place"),
    path("holds/<int:hold_id>/lift/", holds.lift_hold, name="hold-lift"),
    path("holds/vulnerability/<int:marker_id>/keep/", vulnerability_reviews.keep, name="vulnerability-keep"),
    path("holds/vulnerability/<int:marker_id>/clear/", vulnerability_reviews.clear, name="vulnerability-clear"),
    path("dashboard/", dashboard.dashboard, name="dashboard"),
    path("strategy-tests/", strategy_tests.strategy_tests_page, name="strategy-tests"),
    path(
        "strategy-tests.<str:fmt>",
        strategy_tests.export_strategy_tests,
        name="strategy-tests-file",
    ),
    # Served (and written to the audit log) by the exports, like every other download.
    path("dashboard/<slug:table>.csv", exports.export_dashboard, {"fmt": "csv"}, name="dashboard-csv"),
    path("", include("collections_app.web.imports.urls")),
    path("", include("collections_app.web.exports.urls")),
    path("healthz", health.healthz, name="healthz"),
    path("hooks/sms/<slug:backend>/", hooks.sms_receipts, name="sms-receipts"),
]
