"""Staff moderation actions posted from the dashboard's "Listing moderation" section."""

from django.contrib import messages
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from accounts.pages import flash_error
from accounts.tenancy import client_ip
from core.errors import ApplicationError
from dashboard.views import staff_required
from marketplace.models import Model
from marketplace.services.moderation import model_reinstate, model_suspend


@staff_required
@require_POST
def suspend(request, model_id: int):
    model = get_object_or_404(Model, pk=model_id)
    try:
        model_suspend(model=model, actor=request.user, reason=request.POST.get("reason", ""),
                      ip_address=client_ip(request))
    except ApplicationError as error:
        flash_error(request, error)
    else:
        messages.success(request, f"{model.full_name} is suspended and out of the catalog; its vendor sees the reason.")
    return redirect("/dashboard/")


@staff_required
@require_POST
def reinstate(request, model_id: int):
    model = get_object_or_404(Model, pk=model_id)
    model_reinstate(model=model, actor=request.user, ip_address=client_ip(request))
    messages.success(request, f"{model.full_name} is approved again; its vendor can publish it.")
    return redirect("/dashboard/")
