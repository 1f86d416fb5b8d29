"""Metrics that several tasks share (no task knows another task)."""
