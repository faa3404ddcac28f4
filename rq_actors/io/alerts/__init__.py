"""Alert delivery (issue #12): the persisted outbox, the notifiers and the retry loop."""
