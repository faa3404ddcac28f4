"""The backtest shell: vault in, report folder out (see rq_actors.core.backtest)."""
