"""The nightly Lambda function: the schedule's event in, one verified snapshot out.

Raises when the night is not complete, so the invocation counts as failed: the asynchronous
retries run it again (a retry resumes where it stopped, uploading nothing twice), and after the
last one the event goes to the dead-letter queue. Metrics go out as EMF lines on stdout.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics

from docbackup import nightly
from docbackup.engine.results import WatchResult

logger = Logger(service="docbackup")
# No service name: Powertools would add it as a second dimension, and the stack's alarms
# watch the metrics by Environment alone.
metrics = Metrics(namespace="BackupSystem")


class NightIncomplete(Exception):
    pass


def _say_stale(watched: WatchResult) -> None:
    if watched.stale:
        logger.warning(
            "sets without a complete night in 26 hours",
            extra={
                "stale_sets": [s.name for s in watched.stale],
                "detail": [s.said(watched.checked_at) for s in watched.stale],
            },
        )


@metrics.log_metrics
@logger.inject_lambda_context
def handler(event: Any, context: Any) -> dict[str, Any]:
    environment = nightly.environment()
    if metrics.default_dimensions.get("Environment") != environment:  # once per container
        metrics.set_default_dimensions(Environment=environment)
    # The fan-out's state machine (FanOut in the stack) asks for its items, then runs each
    # item's night here, then has every set looked at once.
    if nightly.trigger(event) == nightly.PLAN:
        planned = nightly.plan()
        logger.info("fan-out planned", extra={"plan": planned})
        return planned
    if nightly.trigger(event) == nightly.WATCH:
        watched = nightly.watch_once(metrics)
        _say_stale(watched)
        return watched.summary()
    result = nightly.run(event, lambda: context.get_remaining_time_in_millis() / 1000, metrics)
    summary = result.summary()
    logger.info("backup finished", extra={"summary": summary})
    if result.watched is not None:
        _say_stale(result.watched)
    if result.damaged:
        logger.error(
            "stored copies damaged, no good copy left",
            extra={"damaged": [{"path": p.path, "reason": p.reason} for p in result.damaged]},
        )
    if result.status != "complete":
        raise NightIncomplete(f"{result.status}: {result.failed} not stored; {result.error or ''}")
    return summary
