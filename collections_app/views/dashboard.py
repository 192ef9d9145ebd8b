"""The portfolio dashboard. (Being built.)"""
from django.http import HttpResponse

from .common import roles_required


@roles_required("supervisor", "admin", "auditor")
def dashboard(request):
    return HttpResponse("dashboard")


def dashboard_csv(request, table):
    return dashboard(request)
