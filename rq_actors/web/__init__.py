"""The live web dashboard and Prometheus `/metrics` (issue #13); see docs/DASHBOARD.md."""
