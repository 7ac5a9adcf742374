"""The recompute as a background job: nightly per franchise where the plugin is active, and on demand."""

from __future__ import annotations

from core.jobs import PeriodicJob


def recompute_job(franchise_id: int, trigger: str = "schedule", user_id: int | None = None):
    from plugins.tiering.recompute import recompute

    run = recompute(franchise_id, trigger=trigger, user_id=user_id)
    return {"run_id": run.id, "customers": run.customers, "changed": run.changed, "seconds": run.seconds}


PERIODIC_JOBS = [PeriodicJob("tiering.recompute", recompute_job, cron="30 1 * * *")]
