"""Logging a service's answer at the severity its outcome deserves, from one place.

rclpy keeps one context per logging call site and raises ``ValueError('Logger severity cannot be
changed between calls.')`` when the same source line logs at another severity than the first
time: ``(log.info if ok else log.warning)(msg)`` works until the first refusal after a success,
then raises inside the service callback and takes the node's executor down with it (seen: the
simulator node stopped answering after refusing one reset during the Franka demo).
"""

from __future__ import annotations


def log_answer(logger, ok: bool, message: str) -> None:
    """Log ``message`` as info when ``ok``, else as a warning (each from its own line)."""
    if ok:
        logger.info(message)
    else:
        logger.warning(message)
