"""Setup lifecycle events (issue #12): the §8.3 finder evaluated at every final 1m close."""

from rq_actors.core.signals.context import CvdTrail, MarketContext, deviation_bps
from rq_actors.core.signals.lifecycle import SetupLifecycle
from rq_actors.core.wicks.signals import FinderParams

__all__ = ["CvdTrail", "FinderParams", "MarketContext", "SetupLifecycle", "deviation_bps"]
