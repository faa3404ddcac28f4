"""Shared test helpers: builders, harnesses and fakes used by several test modules."""
