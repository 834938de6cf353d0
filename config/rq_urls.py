"""The django-rq dashboard, behind a dedicated permission (``channels.use_rq_dashboard``) or superuser.

django-rq's own views only ask for a staff user; emptying a queue or deleting a job loses work, so every
dashboard view checks the permission server-side. The stats JSON keeps django-rq's own API-token check.
"""

from __future__ import annotations

from functools import wraps

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django_rq.urls import get_admin_urlpatterns, get_api_urlpatterns

RQ_DASHBOARD_PERMISSION = "channels.use_rq_dashboard"


def rq_dashboard_allowed(user) -> bool:
    """Tell whether ``user`` may use the RQ dashboard: an active staff superuser or holder of the permission."""
    return bool(user.is_active and user.is_staff and (user.is_superuser or user.has_perm(RQ_DASHBOARD_PERMISSION)))


def _guard(view):
    admin_view = admin.site.admin_view(view)  # login redirect for anonymous users, staff check

    @wraps(view)
    def guarded(request, *args, **kwargs):
        if request.user.is_authenticated and request.user.is_staff and not rq_dashboard_allowed(request.user):
            raise PermissionDenied
        return admin_view(request, *args, **kwargs)

    return guarded


app_name = "django_rq"
urlpatterns = get_api_urlpatterns() + get_admin_urlpatterns(view_wrapper=_guard)
