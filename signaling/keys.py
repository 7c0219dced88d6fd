"""Typed application keys: all server state hangs off the app, never module globals."""

from __future__ import annotations

import jinja2
from aiohttp import web

from signaling.abuse import AddressLimits
from signaling.archive import Archive
from signaling.cluster import Cluster
from signaling.cobrowse import CobrowseService
from signaling.config import Config
from signaling.desk import Desk
from signaling.links import LinkKeys
from signaling.looplag import LoopLag
from signaling.media import MediaService
from signaling.metrics import Metrics
from signaling.node import Node
from signaling.recording import RecordingService
from signaling.recording_jobs import RecordingJobs
from signaling.store import Store

CONFIG = web.AppKey("config", Config)
SECRET = web.AppKey("secret", bytes)
METRICS = web.AppKey("metrics", Metrics)
TEMPLATES = web.AppKey("templates", jinja2.Environment)
STORE = web.AppKey("store", Store)
ARCHIVE = web.AppKey("archive", Archive)
DESK = web.AppKey("desk", Desk)
SHUTDOWN_PROBLEMS = web.AppKey("shutdown_problems", list[str])
"""What went wrong closing the server's parts (empty after a clean shutdown)."""
NODE = web.AppKey("node", Node)
LOOP_LAG = web.AppKey("loop_lag", LoopLag)
LINK_KEYS = web.AppKey("link_keys", LinkKeys)
MEDIA = web.AppKey("media", MediaService)
RECORDING = web.AppKey("recording", RecordingService)
RECORDING_JOBS = web.AppKey("recording_jobs", RecordingJobs)
COBROWSE = web.AppKey("cobrowse", CobrowseService)
CLUSTER = web.AppKey("cluster", Cluster)
ADDRESS_LIMITS = web.AppKey("address_limits", AddressLimits)
