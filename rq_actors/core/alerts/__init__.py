"""Alert rules (issue #12): pure decisions on the live record stream; no I/O, no clocks."""
