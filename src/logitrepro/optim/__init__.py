"""Optimisers that several tasks share."""
