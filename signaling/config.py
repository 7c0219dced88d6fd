"""Configuration: one TOML file plus ``LIVEDESK_*`` environment variables.

Everything has a default, so ``livedesk run`` works with no file at all. Invalid
values stop start-up with a :class:`ConfigError` naming the key and the value.
Environment variables win over the file: ``LIVEDESK_<SECTION>_<KEY>`` sets
``[section] key``; a few common ones have short aliases (see ``ENV_ALIASES``).
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec

from signaling.errors import ConfigError

if TYPE_CHECKING:
    from signaling.escalation import BotRules
    from signaling.policy import EntryPolicy

Seconds = Annotated[float, msgspec.Meta(gt=0, le=86400 * 30)]
Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
EntryId = Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


class _Section(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class ServerConfig(_Section):
    host: str = "127.0.0.1"
    port: Port = 8080
    public_url: str = ""
    data_dir: str = "livedesk-data"
    allowed_origins: list[str] = []
    trusted_proxies: list[str] = []
    """Addresses (CIDRs) of the reverse proxies in front: from them, the client's address
    is taken from ``X-Forwarded-For`` (per-address limits, the audit log)."""
    secret: str = ""
    log_level: Annotated[str, msgspec.Meta(pattern=r"^(debug|info|warning|error)$")] = "info"
    log_format: Annotated[str, msgspec.Meta(pattern=r"^(console|json)$")] = "console"
    demo: bool = True
    #: Full garbage-collector passes run every this many seconds instead of when CPython
    #: decides (signaling/gcschedule.py); 0 leaves CPython's own schedule.
    gc_full_every_s: Annotated[float, msgspec.Meta(ge=0, le=86400)] = 60.0


class LimitsConfig(_Section):
    ws_heartbeat_s: Seconds = 20.0
    ws_max_frame_bytes: Annotated[int, msgspec.Meta(ge=20_000, le=4 * 1024 * 1024)] = 65536
    ws_compress: bool = False
    """permessage-deflate when the client offers it (browsers do). Off by default: each
    compressed socket keeps its own zlib state, 150 to 300 KiB, and at 2,041 sockets the
    server held about 750 MiB with it and kept growing (bench/soak.py); chat frames are a
    few hundred bytes. Turn it on where bandwidth costs more than memory (co-browsing over
    slow links)."""
    messages_per_s: Annotated[float, msgspec.Meta(gt=0, le=10_000)] = 20.0
    message_burst: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 60
    abuse_close_after: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 200
    hello_timeout_s: Seconds = 10.0
    send_queue: Annotated[int, msgspec.Meta(ge=16, le=1_000_000)] = 1024
    attempts_per_ip_per_s: Annotated[float, msgspec.Meta(ge=0, le=100_000)] = 20.0
    """Connection attempts (WebSocket upgrades, new sessions, logins, forms) one client
    address may make per second, on average; 0: no limit."""
    attempt_burst_per_ip: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 200
    ws_per_ip: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 1000
    """WebSockets one client address may hold open at once (per node); 0: no limit."""


class RoutingConfig(_Section):
    offer_timeout_s: Seconds = 20.0
    decline_cooldown_s: Seconds = 30.0
    tier_priority: list[str] = msgspec.field(
        default_factory=lambda: ["premium", "high_value", "loyalty", "standard"]
    )
    avg_handle_s: Seconds = 240.0
    presence_grace_s: Seconds = 30.0
    default_capacity: Annotated[int, msgspec.Meta(ge=1, le=100)] = 3
    tick_s: Seconds = 1.0


class StoreConfig(_Section):
    redis_url: str = ""
    key_prefix: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9:_-]{1,64}$")] = "livedesk"


class ClusterConfig(_Section):
    node_id: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._-]{0,64}$")] = ""
    heartbeat_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 1.0
    lease_s: Annotated[float, msgspec.Meta(gt=0, le=600)] = 6.0
    drain_timeout_s: Annotated[float, msgspec.Meta(ge=0, le=86400)] = 60.0
    link_host: str = "127.0.0.1"
    """Where this node listens for its peers while Redis is away (signaling/peerlink.py).
    Loopback serves nodes on one machine; on several, a private-network address."""
    link_port: Annotated[int, msgspec.Meta(ge=0, le=65535)] = 0
    """0: any free port (each node of ``--workers`` gets its own)."""
    link_advertise: str = ""
    """The host peers use to reach the link; empty: ``link_host`` (127.0.0.1 when that is a
    wildcard address). Set it when nodes run on several machines."""


class ArchiveConfig(_Section):
    path: str = ""  # default: <data_dir>/archive.sqlite3
    url: str = ""
    """A PostgreSQL URL (``postgresql://user@host:5432/db``): the archive every node shares.
    Empty: SQLite at ``path``."""
    pool_size: Annotated[int, msgspec.Meta(ge=2, le=200)] = 10


class CustomerTokenConfig(_Section):
    secret: str = ""
    algorithm: Annotated[str, msgspec.Meta(pattern=r"^HS(256|384|512)$")] = "HS256"
    issuer: str = ""
    default_ttl_s: Seconds = 900.0
    default_tier: str = "standard"


class AuthConfig(_Section):
    cookie_ttl_s: Seconds = 12 * 3600.0
    cookie_secure: bool = False
    participant_token_ttl_s: Seconds = 24 * 3600.0
    login_free_failures: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 5
    """Failed logins of one account before each further try must wait (1, 2, 4 ... s)."""
    login_free_failures_per_ip: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 50
    """The same for one client address, whichever accounts it tries."""
    login_backoff_max_s: Annotated[float, msgspec.Meta(gt=0, le=86400)] = 900.0
    recheck_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 30.0
    """How often an open staff socket checks that its login has not expired and its
    account is not disabled (a logout closes it at once)."""


class ChannelRuleConfig(_Section):
    tiers: list[str] = []  # empty: every tier
    needs_agent: bool = False  # a live agent with the entry's skill must be available


class BotRuleConfig(_Section):
    """Propose ``channel`` with ``reason`` when a phrase or a pattern matches."""

    channel: str
    reason: str
    phrases: list[str] = []
    patterns: list[str] = []


class FaqConfig(_Section):
    answer: str
    phrases: list[str] = []
    patterns: list[str] = []


class BotConfig(_Section):
    """The escalation bot of one entry; with no rules it proposes nothing."""

    enabled: bool = True
    rules: list[BotRuleConfig] = []
    faq: list[FaqConfig] = []


RecordingMode = Literal["always", "on_request", "never"]


class RecordingPolicyConfig(_Section):
    """When an entry's sessions are recorded. Consent always comes first, whatever the mode.

    ``always``: the server asks both sides as soon as an agent joins; ``on_request``: the
    agent asks; ``never``: no recording. ``tiers`` overrides the mode per customer tier.
    """

    mode: RecordingMode = "on_request"
    tiers: dict[str, RecordingMode] = {}
    on_decline: Literal["continue", "chat_only"] = "continue"
    """A customer who declines: the session goes on unrecorded, or in chat only."""
    retention_days: Annotated[int, msgspec.Meta(ge=0, le=36500)] = 30  # 0: keep for good
    tier_retention_days: dict[str, Annotated[int, msgspec.Meta(ge=0, le=36500)]] = {}

    def mode_for(self, tier: str) -> str:
        return self.tiers.get(tier, self.mode)

    def retention_days_for(self, tier: str) -> int:
        return self.tier_retention_days.get(tier, self.retention_days)


class FlagRuleConfig(_Section):
    """A phrase to look for in transcripts: said (``expect = false``) or not said (``true``)."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    phrases: list[str] = []
    speaker: Literal["any", "agent", "customer"] = "any"
    expect: bool = False
    """True: flag the session when none of the phrases was said (a required disclosure)."""


class TranscriptionConfig(_Section):
    """How an entry's recordings are transcribed (docs/transcription.md)."""

    engine: Literal["pocketsphinx", "vosk", "faster-whisper"] = "pocketsphinx"
    language: Annotated[str, msgspec.Meta(pattern=r"^[a-z]{2}$")] = "en"
    model_dir: str = ""
    """faster-whisper: its local model directory; vosk: one for a language with no package."""
    vocabulary: list[str] = msgspec.field(default_factory=list)
    """Words the model does not know, e.g. product names: ``"zentrabox = Z EH N T R AH B AA K
    S"``, or bare when made of dictionary words (``"livedesk"``). Not for vosk."""
    flags: list[FlagRuleConfig] = msgspec.field(
        default_factory=lambda: [
            FlagRuleConfig(
                name="recording_disclosed",
                phrases=["this call is recorded", "this call may be recorded", "recorded for"],
                speaker="agent",
                expect=True,
            ),
            FlagRuleConfig(name="cancel", phrases=["cancel"], speaker="customer"),
            FlagRuleConfig(name="refund", phrases=["refund"], speaker="customer"),
            FlagRuleConfig(
                name="complaint",
                phrases=["complaint", "complain", "unacceptable", "ridiculous", "terrible"],
                speaker="customer",
            ),
        ]
    )


class EntryCobrowseConfig(_Section):
    """What the customer's browser hides from co-browsing on this entry's pages, on top of
    passwords, card fields, long digit runs and ``data-livedesk-mask``/``-block``."""

    mask: list[str] = []
    """CSS selectors whose text and input values are replaced by same-length placeholders."""
    block: list[str] = []
    """CSS selectors shown to the agent as empty boxes of the same size."""


class EntryConfig(_Section):
    """One entry point: a link or widget placement, with its access rules (docs/access.md)."""

    title: str = "Support"
    skill: str = ""
    language: Annotated[str, msgspec.Meta(pattern=r"^(|en|ko)$")] = ""
    greeting: str = ""
    channels: list[str] = msgspec.field(default_factory=lambda: ["chat"])
    rules: dict[str, ChannelRuleConfig] = {}
    timezone: str = "UTC"
    hours: dict[str, list[str]] = {}  # empty: always open
    holidays_country: str = ""
    holidays_subdivision: str = ""
    closed_dates: list[str] = []
    pages_include: list[str] = []
    pages_exclude: list[str] = []
    max_queue: Annotated[int, msgspec.Meta(ge=0)] = 0
    max_wait_s: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    site_origins: list[str] = []  # company sites whose pages may embed the widget (CORS)
    bot: BotConfig = msgspec.field(default_factory=BotConfig)
    recording: RecordingPolicyConfig = msgspec.field(default_factory=RecordingPolicyConfig)
    transcription: TranscriptionConfig = msgspec.field(default_factory=TranscriptionConfig)
    cobrowse: EntryCobrowseConfig = msgspec.field(default_factory=EntryCobrowseConfig)

    def policy(self) -> EntryPolicy:
        """The pure policy module's view of these rules."""
        from signaling.policy import ChannelRule, EntryPolicy

        return EntryPolicy(
            channels=tuple(self.channels),
            rules={
                ch: ChannelRule(tiers=tuple(r.tiers), needs_agent=r.needs_agent)
                for ch, r in self.rules.items()
            },
            timezone=self.timezone,
            hours={day: tuple(spans) for day, spans in self.hours.items()},
            holidays_country=self.holidays_country,
            holidays_subdivision=self.holidays_subdivision,
            closed_dates=tuple(self.closed_dates),
            pages_include=tuple(self.pages_include),
            pages_exclude=tuple(self.pages_exclude),
            max_queue=self.max_queue,
            max_wait_s=self.max_wait_s,
        )

    def bot_rules(self) -> BotRules:
        """The escalation bot's checked and compiled rules (raises ``RuleError`` if invalid)."""
        from signaling.escalation import BotRules, EscalationRule, FaqEntry, compile_rules

        return compile_rules(
            BotRules(
                enabled=self.bot.enabled,
                rules=tuple(
                    EscalationRule(r.channel, r.reason, tuple(r.phrases), tuple(r.patterns))
                    for r in self.bot.rules
                ),
                faq=tuple(
                    FaqEntry(f.answer, tuple(f.phrases), tuple(f.patterns)) for f in self.bot.faq
                ),
            )
        )


class IceServerConfig(_Section):
    """One ``RTCIceServer`` for browsers: STUN, or TURN with static or minted credentials."""

    urls: list[str]
    username: str = ""
    credential: str = ""
    use_turn_secret: bool = False  # mint short-lived credentials from media.turn_secret


class MediaConfig(_Section):
    """ICE servers for browsers and the media plane's tunables (docs/operations.md)."""

    ice_servers: list[IceServerConfig] = []  # empty: host candidates only (loopback, LAN)
    turn_secret: str = ""  # coturn static-auth-secret (TURN REST API)
    turn_ttl_s: Annotated[float, msgspec.Meta(gt=0, le=86400)] = 600.0
    host_addresses: list[str] = []  # empty: aioice's default, every non-loopback interface
    max_bitrate_kbps: Annotated[int, msgspec.Meta(gt=0, le=100_000)] = 2500
    keyframe_min_interval_s: Annotated[float, msgspec.Meta(gt=0, le=60)] = 0.5
    forward_queue_frames: Annotated[int, msgspec.Meta(gt=0, le=10_000)] = 16
    media_failure_grace_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 5.0


class RecordingConfig(_Section):
    """Where and how recordings are kept and served (per-entry policy: entries.X.recording)."""

    agent_access: bool = False
    """Agents may fetch the recordings of their own sessions (QA, supervisors, admins always)."""
    encryption_key_file: str = ""
    """A 32-byte key (base64 or hex) that wraps each media file's own key; empty: plain files."""
    queue_frames: Annotated[int, msgspec.Meta(gt=0, le=100_000)] = 256
    """Frames waiting for the disk per track before the recorder drops (and counts) them."""
    cluster_ms: Annotated[int, msgspec.Meta(ge=20, le=5000)] = 250
    """At most this much media is lost when the process is killed."""
    render: bool = True
    """Make the side-by-side review rendering and thumbnails after each recording."""
    render_fps: Annotated[int, msgspec.Meta(ge=1, le=30)] = 15
    render_width: Annotated[int, msgspec.Meta(ge=320, le=3840, multiple_of=2)] = 1280
    render_height: Annotated[int, msgspec.Meta(ge=180, le=2160, multiple_of=2)] = 720
    render_workers: Annotated[int, msgspec.Meta(ge=1, le=16)] = 1
    render_timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 3600.0
    transcribe: bool = True
    """Transcribe every recording after it ends, each microphone on its own."""
    transcribe_workers: Annotated[int, msgspec.Meta(ge=1, le=16)] = 1
    """Transcriptions run at once, each in its own process."""
    job_attempts: Annotated[int, msgspec.Meta(ge=1, le=10)] = 2
    """A failed render or transcription runs again by itself until it has run this often."""
    job_retry_pause_s: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 5.0
    """How long a failed job waits before it runs again by itself."""
    job_redeliver_s: Annotated[float, msgspec.Meta(gt=0, le=86400)] = 60.0
    """A job a worker took this long ago without finishing is offered to the others too
    (the archive's claim still lets only one run it)."""
    job_sweep_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 10.0
    """How often a node checks the job queues against the archive: jobs of dead nodes go
    back to the queue, queued jobs the queue lost (a Redis restart) are put back."""
    transcribe_engine: Literal["pocketsphinx"] = "pocketsphinx"
    retention_check_s: Annotated[float, msgspec.Meta(gt=0)] = 3600.0
    """How often recordings past their retention are looked for."""


class CobrowseConfig(_Section):
    """Size caps and flow control of co-browse streams (docs/cobrowse.md)."""

    max_batch_bytes: Annotated[int, msgspec.Meta(ge=1024, le=1024 * 1024)] = 48 * 1024
    """One ``cobrowse.events`` message's ``data``; larger batches are sent in parts."""
    max_parts: Annotated[int, msgspec.Meta(ge=1, le=4096)] = 512
    """Parts of one batch at most (a full snapshot of a big page)."""
    max_session_bytes: Annotated[int, msgspec.Meta(ge=1024 * 1024)] = 256 * 1024 * 1024
    """A session's whole co-browse stream; past it the stream stops with ``cobrowse_limit``."""
    bytes_per_s: Annotated[int, msgspec.Meta(ge=1024)] = 2 * 1024 * 1024
    """Sustained co-browse bytes per second from one customer connection."""
    burst_bytes: Annotated[int, msgspec.Meta(ge=64 * 1024)] = 32 * 1024 * 1024
    """What a customer may send at once (a page's full snapshot) before the rate applies."""
    viewer_buffer_bytes: Annotated[int, msgspec.Meta(ge=64 * 1024)] = 4 * 1024 * 1024
    """Co-browse bytes waiting to be written to one slow agent; past it that agent's events
    are dropped until a fresh full snapshot catches them up."""
    snapshot_interval_s: Annotated[float, msgspec.Meta(gt=0, le=3600)] = 1.0
    """Fresh full snapshots are asked of the customer at most this often."""


class CriterionConfig(_Section):
    id: Annotated[str, msgspec.Meta(pattern=r"^[a-z0-9_]{1,40}$")]
    label: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    kind: Literal["yes_no", "scale"] = "yes_no"
    weight: Annotated[float, msgspec.Meta(gt=0, le=100)] = 1.0
    comment_on_fail: bool = False


class QaConfig(_Section):
    """The QA scorecard (docs/transcription.md, "Scorecards")."""

    scorecard: list[CriterionConfig] = msgspec.field(
        default_factory=lambda: [
            CriterionConfig(id="greeting", label="Greeted the customer and gave their name"),
            CriterionConfig(
                id="disclosure",
                label="Said the call is recorded",
                weight=2.0,
                comment_on_fail=True,
            ),
            CriterionConfig(
                id="resolution", label="Understood and solved the problem", kind="scale", weight=3.0
            ),
            CriterionConfig(id="tone", label="Tone and courtesy", kind="scale", weight=2.0),
        ]
    )


class LinkKeyConfig(_Section):
    kid: str
    secret: str


class LinksConfig(_Section):
    """Signed personal links. The first key signs; the others still verify (rotation)."""

    keys: list[LinkKeyConfig] = []  # empty: one key derived from the server secret
    ttl_s: Seconds = 86400.0


class TestingConfig(_Section):
    """Hooks for tests only; never set these in production (start-up warns)."""

    fixed_now: str = ""  # ISO 8601 instant the entry rules see as "now"


class Config(_Section):
    server: ServerConfig = msgspec.field(default_factory=ServerConfig)
    limits: LimitsConfig = msgspec.field(default_factory=LimitsConfig)
    routing: RoutingConfig = msgspec.field(default_factory=RoutingConfig)
    store: StoreConfig = msgspec.field(default_factory=StoreConfig)
    cluster: ClusterConfig = msgspec.field(default_factory=ClusterConfig)
    archive: ArchiveConfig = msgspec.field(default_factory=ArchiveConfig)
    customer_tokens: CustomerTokenConfig = msgspec.field(default_factory=CustomerTokenConfig)
    auth: AuthConfig = msgspec.field(default_factory=AuthConfig)
    links: LinksConfig = msgspec.field(default_factory=LinksConfig)
    media: MediaConfig = msgspec.field(default_factory=MediaConfig)
    recording: RecordingConfig = msgspec.field(default_factory=RecordingConfig)
    cobrowse: CobrowseConfig = msgspec.field(default_factory=CobrowseConfig)
    qa: QaConfig = msgspec.field(default_factory=QaConfig)
    testing: TestingConfig = msgspec.field(default_factory=TestingConfig)
    entries: dict[EntryId, EntryConfig] = msgspec.field(default_factory=lambda: {"demo": _demo()})

    @property
    def data_path(self) -> Path:
        return Path(self.server.data_dir).expanduser()

    @property
    def archive_path(self) -> Path:
        return (
            Path(self.archive.path).expanduser()
            if self.archive.path
            else (self.data_path / "archive.sqlite3")
        )


def _demo() -> EntryConfig:
    """The zero-config entry: chat, voice, video, screen and co-browse (the demo shop), with
    a bot in English and Korean."""
    return EntryConfig(
        title="livedesk demo support",
        channels=["chat", "voice", "video", "screen", "cobrowse"],
        cobrowse=EntryCobrowseConfig(mask=[".shop-account"]),
        bot=BotConfig(
            rules=[
                BotRuleConfig(
                    channel="cobrowse",
                    reason="Co-browsing lets the agent see this page with you and point to "
                    "what to fill in; your passwords and card numbers stay hidden",
                    phrases=["fill in this form", "fill in the form", "help me with this page"],
                ),
                BotRuleConfig(
                    channel="screen",
                    reason="You mentioned being stuck at checkout: "
                    "sharing your screen lets the agent walk you through it",
                    patterns=["stuck (at|on|in) (the )?checkout"],
                ),
                BotRuleConfig(
                    channel="screen",
                    reason="Sharing your screen lets the agent see what you see",
                    phrases=["can you see this", "see my screen"],
                ),
                BotRuleConfig(
                    channel="screen",
                    reason="화면을 공유하시면 상담원이 같은 화면을 보며 도와드릴 수 있어요",
                    phrases=["화면을 보여", "화면 공유"],
                ),
                BotRuleConfig(
                    channel="video",
                    reason="A video call lets you show the agent the problem",
                    phrases=["the part is broken", "show you"],
                ),
                BotRuleConfig(
                    channel="video",
                    reason="영상 통화로 상담원에게 문제를 직접 보여 주실 수 있어요",
                    phrases=["영상 통화"],
                ),
            ],
            faq=[
                FaqConfig(
                    phrases=["opening hours", "business hours", "영업 시간", "운영 시간"],
                    answer="This demo desk is open around the clock. "
                    "이 데모 상담 창구는 24시간 열려 있어요.",
                )
            ],
        ),
    )


ENV_ALIASES: dict[str, tuple[str, str]] = {
    "LIVEDESK_REDIS_URL": ("store", "redis_url"),
    "LIVEDESK_DATABASE_URL": ("archive", "url"),
    "LIVEDESK_DATA_DIR": ("server", "data_dir"),
    "LIVEDESK_HOST": ("server", "host"),
    "LIVEDESK_PORT": ("server", "port"),
    "LIVEDESK_SECRET": ("server", "secret"),
    "LIVEDESK_CUSTOMER_TOKEN_SECRET": ("customer_tokens", "secret"),
    "LIVEDESK_TURN_SECRET": ("media", "turn_secret"),
    "LIVEDESK_RECORDING_KEY_FILE": ("recording", "encryption_key_file"),
}

_SECTIONS = {
    name: typ
    for name, typ in (
        ("server", ServerConfig),
        ("limits", LimitsConfig),
        ("routing", RoutingConfig),
        ("store", StoreConfig),
        ("cluster", ClusterConfig),
        ("archive", ArchiveConfig),
        ("customer_tokens", CustomerTokenConfig),
        ("auth", AuthConfig),
        ("links", LinksConfig),
        ("media", MediaConfig),
        ("recording", RecordingConfig),
        ("cobrowse", CobrowseConfig),
        ("qa", QaConfig),
        ("testing", TestingConfig),
    )
}


def load(
    path: str | Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Config:
    """Read the file (if any), apply the environment, then ``overrides``; validate."""
    raw: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            raw = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError("--config", str(p), "file not found") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError("--config", str(p), f"cannot read it: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError("--config", str(p), f"not valid TOML: {exc}") from None
    _apply_env(raw, os.environ if env is None else env)
    for section, values in (overrides or {}).items():
        raw.setdefault(section, {}).update({k: v for k, v in values.items() if v is not None})
    return from_dict(raw)


def from_dict(raw: Mapping[str, Any]) -> Config:
    entries = raw.get("entries")
    if isinstance(entries, Mapping):
        # checked one by one so that an error names the entry and the real value
        for name, entry in entries.items():
            try:
                msgspec.convert(entry, EntryConfig, strict=False)
            except msgspec.ValidationError as exc:
                raise _entry_error(name, entry, str(exc)) from None
    try:
        cfg = msgspec.convert(raw, Config, strict=False)
    except msgspec.ValidationError as exc:
        raise _config_error(raw, str(exc)) from None
    _check(cfg)
    return cfg


def _entry_error(name: str, entry: Any, text: str) -> ConfigError:
    unknown = re.search(r"unknown field `([^`]+)`", text)
    field = re.search(r"at `\$\.([^`]+)`", text)
    if unknown:
        # a nested table's path comes first: entries.<name>.bot.rules[0].<unknown>
        key = f"{field.group(1)}.{unknown.group(1)}" if field else unknown.group(1)
        return ConfigError(f"entries.{name}.{key}", _lookup(entry, key), "unknown key")
    why = re.sub(r"\s*-\s*at `\$[^`]*`", "", text)
    if field:
        return ConfigError(f"entries.{name}.{field.group(1)}", _lookup(entry, field.group(1)), why)
    return ConfigError(f"entries.{name}", entry, why)


def _apply_env(raw: dict[str, Any], env: Mapping[str, str]) -> None:
    for name, value in env.items():
        if not name.startswith("LIVEDESK_") or value == "":
            continue
        target = ENV_ALIASES.get(name)
        if target is None:
            rest = name[len("LIVEDESK_") :].lower()
            target = next(
                ((s, rest[len(s) + 1 :]) for s in _SECTIONS if rest.startswith(s + "_")), None
            )
            if target is None or target[1] not in _SECTIONS[target[0]].__struct_fields__:
                continue  # LIVEDESK_TEST_* and friends are not config
        section, key = target
        default = getattr(_SECTIONS[section](), key)
        raw.setdefault(section, {})[key] = (
            [v.strip() for v in value.split(",") if v.strip()]
            if isinstance(default, list)
            else value
        )


def _config_error(raw: Mapping[str, Any], text: str) -> ConfigError:
    in_key = re.search(r"at `key` in `\$\.([^`]+)`", text)
    if in_key:
        section = in_key.group(1)
        found = _lookup(raw, section)
        names = list(found) if isinstance(found, Mapping) else []
        why = re.sub(r"\s*-\s*at `key`.*$", "", text)
        return ConfigError(section, names, f"a name in this table is invalid: {why}")
    m = re.search(r"at `\$\.([^`]+)`", text)
    key = m.group(1) if m else "(root)"
    unknown = re.search(r"unknown field `([^`]+)`", text)
    if unknown:
        key = f"{key}.{unknown.group(1)}" if m else unknown.group(1)
        return ConfigError(key, _lookup(raw, key), "unknown key")
    why = re.sub(r"\s*-\s*at `\$[^`]*`", "", text)
    return ConfigError(key, _lookup(raw, key), why)


def _lookup(raw: Mapping[str, Any], dotted: str) -> object:
    cur: Any = raw
    for part in re.split(r"\.|\[(\d+)\]", dotted):
        if not part:
            continue
        try:
            cur = cur[int(part)] if part.isdigit() else cur[part]
        except (KeyError, IndexError, TypeError):
            return None
    return cur


def redact_url(url: str) -> str:
    """A URL without its password, for error messages."""
    return re.sub(r"://([^:/@]*):[^@/]*@", r"://\1:***@", url)


def _check(cfg: Config) -> None:
    """Cross-field rules that a type cannot say."""
    url = cfg.store.redis_url
    if url and not re.match(r"^(redis|rediss|unix)://", url):
        raise ConfigError("store.redis_url", url, "must start with redis://, rediss:// or unix://")
    db_url = cfg.archive.url
    if db_url and not db_url.startswith(("postgresql://", "postgres://")):
        raise ConfigError(
            "archive.url", redact_url(db_url), "must start with postgresql:// (or be empty: SQLite)"
        )
    if cfg.cluster.lease_s < 2 * cfg.cluster.heartbeat_s:
        # one late heartbeat must not cost a node its sessions
        raise ConfigError(
            "cluster.lease_s", cfg.cluster.lease_s, "must be at least twice cluster.heartbeat_s"
        )
    for proxy in cfg.server.trusted_proxies:
        try:
            ipaddress.ip_network(proxy, strict=False)
        except ValueError:
            raise ConfigError(
                "server.trusted_proxies", proxy, "an address or network such as 10.0.0.0/8"
            ) from None
    for origin in cfg.server.allowed_origins:
        if not re.match(r"^https?://[^/\s]+$", origin):
            raise ConfigError(
                "server.allowed_origins", origin, "an origin is scheme://host[:port], no path"
            )
    if cfg.customer_tokens.secret and len(cfg.customer_tokens.secret) < 32:
        # RFC 7518 section 3.2: an HS256 key needs at least 256 bits
        raise ConfigError("customer_tokens.secret", "***", "must be at least 32 characters")
    if cfg.server.public_url and not re.match(r"^https?://[^\s]+$", cfg.server.public_url):
        raise ConfigError("server.public_url", cfg.server.public_url, "must be an http(s) URL")
    if not cfg.entries:
        raise ConfigError("entries", {}, "at least one entry is needed")
    from signaling.policy import PolicyError, validate

    for name, entry in cfg.entries.items():
        try:
            validate(entry.policy())
        except PolicyError as exc:
            raise ConfigError(f"entries.{name}.{exc.field}", exc.value, exc.why) from None
        for origin in entry.site_origins:
            if not re.match(r"^https?://[^/\s]+$", origin):
                raise ConfigError(
                    f"entries.{name}.site_origins", origin, "an origin is scheme://host[:port]"
                )
        _check_bot(name, entry)
    _check_media(cfg.media)
    for name, entry in cfg.entries.items():
        _check_transcription(name, entry.transcription)
        _check_selectors(name, entry.cobrowse)
    if cfg.recording.encryption_key_file:
        from recorder.sealed import SealedError, load_kek

        key_file = cfg.recording.encryption_key_file
        try:
            load_kek(Path(key_file).expanduser())
        except SealedError as exc:
            raise ConfigError("recording.encryption_key_file", key_file, exc.message) from None
    if cfg.links.keys:
        from signaling.links import LinkKeys

        LinkKeys.from_config([{"kid": k.kid, "secret": k.secret} for k in cfg.links.keys])
    if cfg.testing.fixed_now:
        try:
            when = datetime.fromisoformat(cfg.testing.fixed_now)
        except ValueError:
            raise ConfigError("testing.fixed_now", cfg.testing.fixed_now, "not ISO 8601") from None
        if when.tzinfo is None:
            raise ConfigError("testing.fixed_now", cfg.testing.fixed_now, "needs a UTC offset")


def _check_transcription(name: str, t: TranscriptionConfig) -> None:
    """The engine must be able to run here: a missing model is a start-up error, not a job's."""
    if not t.engine:
        return
    from transcribe.engines import EngineError, check_engine

    key = f"entries.{name}.transcription"
    model_dir = Path(t.model_dir).expanduser() if t.model_dir else None
    try:
        check_engine(t.engine, t.language, model_dir, t.vocabulary)
    except EngineError as exc:
        if exc.message.startswith("vocabulary"):
            raise ConfigError(f"{key}.vocabulary", t.vocabulary, exc.message) from None
        value = t.model_dir or t.engine
        raise ConfigError(
            f"{key}.{'model_dir' if t.model_dir else 'engine'}", value, exc.message
        ) from None


_SELECTOR = re.compile(r"^[^{}<>;\\\n\r]{1,200}$")


def _check_selectors(name: str, cb: EntryCobrowseConfig) -> None:
    """A selector goes to the customer's browser as is: keep it to one plain selector list."""
    for field, selectors in (("mask", cb.mask), ("block", cb.block)):
        for sel in selectors:
            if not _SELECTOR.match(sel) or not sel.strip():
                raise ConfigError(
                    f"entries.{name}.cobrowse.{field}",
                    sel,
                    "a CSS selector of 1-200 characters, without { } < > ; or backslashes",
                )


def _check_bot(name: str, entry: EntryConfig) -> None:
    from signaling.escalation import RuleError

    try:
        entry.bot_rules()
    except RuleError as exc:
        raise ConfigError(f"entries.{name}.bot.{exc.field}", exc.value, exc.why) from None
    for i, rule in enumerate(entry.bot.rules):
        # a proposal the entry's own rules would refuse is a mistake, not a policy
        if rule.channel not in entry.channels:
            raise ConfigError(
                f"entries.{name}.bot.rules[{i}].channel",
                rule.channel,
                f"not offered by this entry (entries.{name}.channels)",
            )


_ICE_SCHEMES = ("stun:", "stuns:", "turn:", "turns:")
_MINTED = "use_turn_secret mints the credentials; leave this out"


def _check_media(media: MediaConfig) -> None:
    for i, server in enumerate(media.ice_servers):
        key = f"media.ice_servers[{i}]"
        if not server.urls:
            raise ConfigError(f"{key}.urls", server.urls, "at least one URL is needed")
        for url in server.urls:
            if not url.startswith(_ICE_SCHEMES) or len(url.split(":", 1)[1].strip()) == 0:
                raise ConfigError(
                    f"{key}.urls", url, "must be stun:, stuns:, turn: or turns: and a host"
                )
        if server.use_turn_secret:
            if not media.turn_secret:
                raise ConfigError(
                    f"{key}.use_turn_secret",
                    True,
                    "needs media.turn_secret (coturn's static-auth-secret)",
                )
            if server.username:
                raise ConfigError(f"{key}.username", server.username, _MINTED)
            if server.credential:
                raise ConfigError(f"{key}.credential", "***", _MINTED)
        elif any(u.startswith(("turn:", "turns:")) for u in server.urls) and not (
            server.username and server.credential
        ):
            # browsers refuse the whole RTCPeerConnection configuration otherwise
            raise ConfigError(
                key,
                list(server.urls),
                "a TURN server needs username and credential, or use_turn_secret = true",
            )
    for addr in media.host_addresses:
        try:
            ipaddress.ip_address(addr)
        except ValueError:
            raise ConfigError("media.host_addresses", addr, "not an IP address") from None


TEMPLATE_PATH = Path(__file__).with_name("livedesk.example.toml")


def template() -> str:
    """The commented configuration file that ``livedesk init`` writes."""
    return TEMPLATE_PATH.read_text(encoding="utf-8")
