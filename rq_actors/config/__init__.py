"""The TOML configuration (SPEC §13): attrs classes structured with cattrs.

Every key has a default except `instruments`. Unknown keys, wrong types, bad instIds and
out-of-range values raise `ConfigError`, whose message names the file, the key path and the
problem; the CLI turns it into exit code 2 before anything starts.
"""

from rq_actors.config._checks import INST_ID_PATTERN, MAX_INST_ID_LEN, TIMEFRAMES
from rq_actors.config.alerts import (
    ALERT_SETUP_EVENTS,
    ALERT_STRENGTHS,
    ALERT_TIERS,
    NOTIFIER_KINDS,
    AlertsConfig,
    CvdDivergenceAlertConfig,
    NotifierConfig,
    RateLimitConfig,
    SetupAlertConfig,
    VwapDeviationAlertConfig,
)
from rq_actors.config.load import Config, ConfigError, load_config, parse_config
from rq_actors.config.sections import (
    BacktestConfig,
    BookConfig,
    CvdConfig,
    ExchangeConfig,
    FaultOptions,
    HealthConfig,
    RetentionConfig,
    SignalsConfig,
    SimulatorConfig,
    SocketConfig,
    SupervisorConfig,
    VaultConfig,
    VwapConfig,
    WebConfig,
    WicksConfig,
)

__all__ = [
    "ALERT_SETUP_EVENTS",
    "ALERT_STRENGTHS",
    "ALERT_TIERS",
    "INST_ID_PATTERN",
    "MAX_INST_ID_LEN",
    "NOTIFIER_KINDS",
    "TIMEFRAMES",
    "AlertsConfig",
    "BacktestConfig",
    "BookConfig",
    "Config",
    "ConfigError",
    "CvdConfig",
    "CvdDivergenceAlertConfig",
    "ExchangeConfig",
    "FaultOptions",
    "HealthConfig",
    "NotifierConfig",
    "RateLimitConfig",
    "RetentionConfig",
    "SetupAlertConfig",
    "SignalsConfig",
    "SimulatorConfig",
    "SocketConfig",
    "SupervisorConfig",
    "VaultConfig",
    "VwapConfig",
    "VwapDeviationAlertConfig",
    "WebConfig",
    "WicksConfig",
    "load_config",
    "parse_config",
]
