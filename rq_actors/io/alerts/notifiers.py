"""Notifiers: one way to reach a person. Each `send` returns what the receiver answered.

Secrets (a Discord webhook URL holds its token; a Telegram bot token sits in the request path;
the webhook's URL and HMAC key) are read from the environment variables the config names, once,
at start. They never leave this module in text: every error is scrubbed of them, and httpx's own
request logging (which prints URLs at INFO) is silenced.

Every HTTP request carries `Idempotency-Key: <alert key>`; the generic webhook also has it in the
body and signs the exact body bytes: `X-Rq-Signature: sha256=<hex HMAC-SHA256(key, body)>`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import sys
from collections.abc import Mapping
from typing import IO, Any, Protocol

import attrs
import httpx
import orjson

from rq_actors.config import AlertsConfig, ConfigError, NotifierConfig
from rq_actors.core.alerts.model import Alert
from rq_actors.core.timefmt import iso_ms

TELEGRAM_API = "https://api.telegram.org"
DISCORD_MAX_CHARS = 2000
TELEGRAM_MAX_CHARS = 4096
SIGNATURE_HEADER = "X-Rq-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"

for _name in ("httpx", "httpcore"):  # they log request URLs, and URLs here hold secrets
    logging.getLogger(_name).setLevel(logging.WARNING)


@attrs.frozen
class SendResult:
    status: int | None  # the HTTP status; None when no answer came (network error, timeout)
    retry_after_s: float | None = None  # what a 429 asked us to wait
    detail: str = ""  # short, scrubbed: safe for health lines

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class Notifier(Protocol):
    name: str

    async def send(self, alert: Alert) -> SendResult: ...

    async def aclose(self) -> None: ...


class Scrubber:
    """Replaces every secret, and every long piece of one (a URL's token segment), by `***`."""

    def __init__(self, secrets: list[str]) -> None:
        parts = set()
        for s in secrets:
            parts.add(s)
            parts.update(p for p in s.replace("?", "/").split("/") if len(p) >= 12)
        self._parts = sorted(parts, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for p in self._parts:
            text = text.replace(p, "***")
        return text


class _HttpNotifier:
    def __init__(self, cfg: NotifierConfig, secrets: list[str], client: httpx.AsyncClient | None):
        self.name = cfg.label
        self.scrub = Scrubber(secrets)
        self._client = client or httpx.AsyncClient(timeout=cfg.timeout_s)

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> SendResult:
        headers = {"Content-Type": "application/json", "User-Agent": "rq-actors", **headers}
        try:
            resp = await self._client.post(url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            # httpx errors may quote the URL: scrub before the text goes anywhere
            return SendResult(None, None, self.scrub(f"{type(exc).__name__}: {exc}")[:300])
        retry_after = self._retry_after(resp) if resp.status_code == 429 else None
        detail = "" if resp.is_success else self.scrub(resp.text[:200])
        return SendResult(resp.status_code, retry_after, detail)

    def _retry_after(self, resp: httpx.Response) -> float | None:
        header = resp.headers.get("Retry-After")
        try:
            return max(0.0, float(header)) if header is not None else None
        except ValueError:
            return None

    async def aclose(self) -> None:
        await self._client.aclose()


def _json_field(resp: httpx.Response, *path: str) -> float | None:
    try:
        doc: Any = resp.json()
        for p in path:
            doc = doc[p]
        return max(0.0, float(doc))
    except (ValueError, KeyError, TypeError):
        return None


class DiscordNotifier(_HttpNotifier):
    """Discord webhook: `{"content": ...}`; a 429 says `retry_after` (seconds) in its body."""

    def __init__(self, cfg: NotifierConfig, url: str, client: httpx.AsyncClient | None = None):
        super().__init__(cfg, [url], client)
        self._url = url

    async def send(self, alert: Alert) -> SendResult:
        body = {"content": alert.text[:DISCORD_MAX_CHARS], "allowed_mentions": {"parse": []}}
        return await self._post(self._url, orjson.dumps(body), {IDEMPOTENCY_HEADER: alert.key})

    def _retry_after(self, resp: httpx.Response) -> float | None:
        found = _json_field(resp, "retry_after")
        return found if found is not None else super()._retry_after(resp)


class TelegramNotifier(_HttpNotifier):
    """Bot API `sendMessage`; a 429 says `parameters.retry_after` (seconds) in its body."""

    def __init__(
        self, cfg: NotifierConfig, token: str, client: httpx.AsyncClient | None = None
    ) -> None:
        super().__init__(cfg, [token], client)
        base = (cfg.api_base or TELEGRAM_API).rstrip("/")
        self._url = f"{base}/bot{token}/sendMessage"
        self._chat_id = cfg.chat_id

    async def send(self, alert: Alert) -> SendResult:
        body = {
            "chat_id": self._chat_id,
            "text": alert.text[:TELEGRAM_MAX_CHARS],
            "disable_web_page_preview": True,
        }
        return await self._post(self._url, orjson.dumps(body), {IDEMPOTENCY_HEADER: alert.key})

    def _retry_after(self, resp: httpx.Response) -> float | None:
        found = _json_field(resp, "parameters", "retry_after")
        return found if found is not None else super()._retry_after(resp)


def webhook_body(alert: Alert) -> bytes:
    doc = {
        "idempotency_key": alert.key,
        "rule": alert.rule,
        "instId": alert.inst_id,
        "event_time_utc": iso_ms(alert.event_time_ms),
        "title": alert.title,
        "text": alert.text,
        "fields": alert.fields,
    }
    return orjson.dumps(doc)


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookNotifier(_HttpNotifier):
    """Generic JSON webhook, body signed with HMAC-SHA256; honours a 429's `Retry-After`."""

    def __init__(
        self, cfg: NotifierConfig, url: str, secret: str, client: httpx.AsyncClient | None = None
    ) -> None:
        super().__init__(cfg, [url, secret], client)
        self._url = url
        self._secret = secret

    async def send(self, alert: Alert) -> SendResult:
        body = webhook_body(alert)
        headers = {IDEMPOTENCY_HEADER: alert.key, SIGNATURE_HEADER: sign(self._secret, body)}
        return await self._post(self._url, body, headers)


class StdoutNotifier:
    def __init__(self, cfg: NotifierConfig, stream: IO[str] | None = None) -> None:
        self.name = cfg.label
        self._stream = stream

    async def send(self, alert: Alert) -> SendResult:
        stream = self._stream or sys.stdout
        stream.write(f"[alert {alert.key}]\n{alert.text}\n\n")
        stream.flush()
        return SendResult(200)

    async def aclose(self) -> None:
        return None


def read_secrets(
    alerts: AlertsConfig, source: str, environ: Mapping[str, str]
) -> list[dict[str, str]]:
    """Each notifier's secrets from `environ` (field → value); a missing one is a `ConfigError`
    that names the variable (never a value). `rq-run` calls it before it creates anything."""
    out: list[dict[str, str]] = []
    for i, cfg in enumerate(alerts.notifiers):
        values: dict[str, str] = {}
        for field, env in cfg.env_names():
            value = environ.get(env, "")
            if not value:
                key = f"alerts.notifiers[{i}].{field}"
                raise ConfigError(source, key, f"environment variable {env} is not set")
            values[field] = value
        out.append(values)
    return out


def build_notifiers(
    alerts: AlertsConfig, source: str, environ: Mapping[str, str]
) -> list[Notifier]:
    out: list[Notifier] = []
    for cfg, values in zip(alerts.notifiers, read_secrets(alerts, source, environ), strict=True):
        if cfg.kind == "discord":
            out.append(DiscordNotifier(cfg, values["url_env"]))
        elif cfg.kind == "telegram":
            out.append(TelegramNotifier(cfg, values["token_env"]))
        elif cfg.kind == "webhook":
            out.append(WebhookNotifier(cfg, values["url_env"], values["secret_env"]))
        else:
            out.append(StdoutNotifier(cfg))
    return out
