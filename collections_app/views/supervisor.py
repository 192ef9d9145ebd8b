"""Supervisors' pages: queues and assignment, approvals, holds. (Being built.)"""
from django.http import HttpResponse

from .common import MANAGERS, roles_required


@roles_required(*MANAGERS)
def queues(request):
    return HttpResponse("queues")


assign = distribute = approvals = decide_referral = holds = place_hold = lift_hold = queues
