"""The wick-fade backtest core (issue #11): setups found by the live finder, a resting-limit
execution model, exact outcomes, statistics and the threshold sweep. Pure and synchronous."""
