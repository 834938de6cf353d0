"""The admin index's counters (open conflicts, dead letters, pushes waiting, ...), registered by each app."""

from __future__ import annotations

from django import template

from pim.admin_extensions import dashboard_counters

register = template.Library()


@register.simple_tag(takes_context=True)
def pim_dashboard(context) -> list[dict]:
    """Return ``[{label, count, url, problem}]`` for the counters the user may see."""
    request = context.get("request")
    if request is None:
        return []
    rows = []
    for counter in dashboard_counters():
        count = counter.count(request)
        if count is None:
            continue
        rows.append({"label": counter.label, "count": count, "url": counter.url(),
                     "problem": counter.problem_when_nonzero and count > 0})
    return rows
