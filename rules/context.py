"""The largest context at which a placement still fits (a bisection over the same placement)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from rules import placement as P
from rules.spec import ModelSpec

Redraft = Callable[[P.Job], P.Draft]


def max_context(job: P.Job, draft_fn: Redraft, spec: ModelSpec) -> int | None:
    """Largest context (up to the model's maximum) at which the same placement still fits."""
    def fits(ctx: int) -> bool:
        return bool(draft_fn(replace(job, context=ctx)).fits)

    upper = spec.max_context or job.context
    if job.request.extend_context:
        upper = max(upper, job.context)
    upper = max(upper, 1)
    if fits(upper):
        return upper
    lo, hi = 0, upper
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid
    return lo or None
