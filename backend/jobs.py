"""APScheduler wiring: which lifecycle functions run how often, in this process.

Every process runs the same jobs; the database keeps them correct when several do: each
interval's sweep is claimed by one process (a slot row), and every state change is conditional.
The heartbeat runs even when the sweep is off (SESSION_CLEANUP_INTERVAL=0): without it, other
processes would declare this one dead and reclaim its clients.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from . import instances, lifecycle
from .extensions import db

log = logging.getLogger(__name__)


SWEEP_JOB = "sweep"
HEARTBEAT_JOB = "instance_heartbeat"


class LifecycleScheduler:
    """One BackgroundScheduler per process, with its two jobs, each in an app context."""

    def __init__(
        self,
        app: Flask,
        disconnect_all: Callable[[], int],
        live_sids: Callable[[], set[str]],
    ) -> None:
        """`disconnect_all` drops every socket of this process (fencing); `live_sids` names
        the sockets it holds (closing orphaned memberships)."""
        self.app = app
        self.disconnect_all = disconnect_all
        self.live_sids = live_sids
        self.scheduler = BackgroundScheduler(
            timezone="UTC", job_defaults={"max_instances": 1, "coalesce": True}
        )
        config = app.config
        self.sweep_interval = config["SESSION_CLEANUP_INTERVAL"]
        if self.sweep_interval:
            self.scheduler.add_job(
                self._sweep, "interval", seconds=self.sweep_interval, id=SWEEP_JOB
            )
        self.scheduler.add_job(
            self._heartbeat,
            "interval",
            seconds=config["INSTANCE_HEARTBEAT_SECS"],
            id=HEARTBEAT_JOB,
        )

    @property
    def running(self) -> bool:
        return self.scheduler.running

    def start(self) -> None:
        self.scheduler.start()
        config = self.app.config
        log.info(
            "scheduler started: sweep every %ss (%s), heartbeat every %ss, idle after %ss, "
            "empty after %ss, retention %s days, dead instance after %ss",
            self.sweep_interval,
            "on" if self.sweep_interval else "off",
            config["INSTANCE_HEARTBEAT_SECS"],
            config["SESSION_TIMEOUT_SECS"],
            config["SESSION_EMPTY_TIMEOUT_SECS"],
            config["SESSION_RETENTION_DAYS"],
            config["INSTANCE_DEAD_AFTER_SECS"],
        )

    def shutdown(self) -> None:
        """Stop starting jobs. A job already running is not waited for (`wait=False`): the
        graceful stop is bounded, and every job is safe to cut short (each change commits on
        its own, and the next process or run redoes what is left)."""
        if self.running:
            self.scheduler.shutdown(wait=False)
            log.info("scheduler stopped")

    def next_sweep_at(self) -> datetime | None:
        job = self.scheduler.get_job(SWEEP_JOB) if self.sweep_interval else None
        return job.next_run_time if job is not None else None

    def _sweep(self) -> None:
        with self.app.app_context():
            try:
                lifecycle.scheduled_sweep(self.sweep_interval)
            except Exception:
                log.exception("scheduled sweep failed")

    def _heartbeat(self) -> None:
        with self.app.app_context():
            try:
                instances.heartbeat(self.disconnect_all)
                instances.close_orphans(self.live_sids)
            except Exception:
                log.exception("instance heartbeat failed")
            finally:
                db.session.remove()
