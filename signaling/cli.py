"""The ``livedesk`` command: run, init, check-config, user add, token customer."""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import secrets
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from signaling import __version__, archive, auth, config
from signaling.errors import ConfigError

DEMO_USERS = (
    ("agent", "Demo Agent", "agent"),
    ("agent2", "Second Agent", "agent"),
    ("supervisor", "Demo Supervisor", "supervisor"),
    ("admin", "Demo Admin", "admin"),
)


def _load(args: argparse.Namespace) -> config.Config:
    overrides = {
        "server": {
            "host": getattr(args, "host", None),
            "port": getattr(args, "port", None),
            "data_dir": getattr(args, "data_dir", None),
        }
    }
    path = args.config
    if path is None and Path("livedesk.toml").exists():
        path = "livedesk.toml"
    return config.load(path, overrides=overrides)


def ensure_demo_users(cfg: config.Config) -> str:
    """Create the demo staff once; the password is kept in ``<data_dir>/demo-login.txt``."""
    path = cfg.data_path / "demo-login.txt"
    if path.exists():
        password = path.read_text().strip()
    else:
        password = secrets.token_urlsafe(9)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(password + "\n")
        path.chmod(0o600)

    async def create(db: archive.Archive) -> None:
        for username, name, role in DEMO_USERS:
            if await db.get_user(username) is None:
                user = archive.User(
                    username=username,
                    display_name=name,
                    role=role,
                    skills=(),
                    tiers=(),
                    capacity=cfg.routing.default_capacity,
                    password_hash=auth.hash_password(password),
                )
                await db.put_user(user, now=time.time())

    archive.blocking(cfg, create)
    return password


async def _migrated(db: archive.Archive) -> int:
    """Nothing: opening the archive applied its migrations."""
    return await db.schema_version()


def cmd_run(args: argparse.Namespace) -> int:
    from aiohttp import web

    from signaling import logs
    from signaling.app import create_app, load_secret
    from signaling.supervisor import WORKER_ENV, Supervisor, worker_argv

    cfg = _load(args)
    logs.configure(cfg.server.log_level, cfg.server.log_format)
    workers = args.workers
    if workers < 1:
        print("livedesk run --workers must be 1 or more", file=sys.stderr)
        return 2
    if workers > 1 and not cfg.store.redis_url:
        print(
            "livedesk run --workers needs a shared store: set store.redis_url "
            "(or LIVEDESK_REDIS_URL) to a Redis every worker can reach",
            file=sys.stderr,
        )
        return 2
    base = cfg.server.public_url or f"http://{cfg.server.host}:{cfg.server.port}"
    if os.environ.get(WORKER_ENV) is None:
        # the supervisor (or a single node) prepares what workers would race for
        load_secret(cfg)
        archive.blocking(cfg, _migrated)
        _print_banner(cfg, base, workers)
    if workers > 1:
        return Supervisor(cfg, worker_argv(args), workers).run()
    app = create_app(cfg, freeze_gc=True)
    app.on_startup.append(_on_sigint)
    app.on_shutdown.append(_drain)
    web.run_app(
        app,
        host=cfg.server.host,
        port=cfg.server.port,
        print=None,
        access_log=None,
        shutdown_timeout=10,
        reuse_port=bool(args.reuse_port),
    )
    return 0


async def _drain(app: Any) -> None:
    """SIGTERM: the listener is closed already; let sessions finish, then stop.

    Ctrl-C (SIGINT) means "now": sessions end at once, cleanly (recordings closed).
    """
    from signaling.keys import CLUSTER, CONFIG

    timeout = 0.0 if _interrupted else app[CONFIG].cluster.drain_timeout_s
    await app[CLUSTER].drain(timeout)


_interrupted = False


async def _on_sigint(app: Any) -> None:
    """Tell Ctrl-C from SIGTERM (aiohttp treats both alike)."""
    import asyncio
    import signal

    from aiohttp.web_runner import GracefulExit

    def interrupted() -> None:
        global _interrupted
        _interrupted = True
        raise GracefulExit()

    with contextlib.suppress(NotImplementedError, RuntimeError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGINT, interrupted)


def _archive_label(cfg: config.Config) -> str:
    return config.redact_url(cfg.archive.url) if cfg.archive.url else str(cfg.archive_path)


def args_archive(args: argparse.Namespace) -> str:
    """Where the archive of this command's configuration is (for an error message)."""
    try:
        return _archive_label(_load(args))
    except ConfigError:
        return "?"


def _print_banner(cfg: config.Config, base: str, workers: int) -> None:
    store = "redis" if cfg.store.redis_url else "memory"
    nodes = f", {workers} workers" if workers > 1 else ""
    lines = [
        f"livedesk {__version__} on {base}  (store: {store}, archive: {_archive_label(cfg)}{nodes})"
    ]
    for entry in cfg.entries:
        lines.append(f"  customer page : {base}/l/{entry}")
    lines.append(f"  agent console : {base}/agent")
    lines.append(f"  admin         : {base}/admin")
    if cfg.server.demo:
        password = ensure_demo_users(cfg)
        logins = ", ".join(u for u, _, _ in DEMO_USERS)
        lines.append(f"  demo logins   : {logins}  password: {password}")
    lines.append(f"  health        : {base}/healthz   metrics: {base}/metrics")
    print("\n".join(lines), flush=True)


def cmd_init(args: argparse.Namespace) -> int:
    path = Path(args.path)
    if path.exists() and not args.force:
        print(f"{path} exists; use --force to overwrite", file=sys.stderr)
        return 1
    path.write_text(config.template(), encoding="utf-8")
    print(f"wrote {path}; check it with: livedesk check-config --config {path}")
    return 0


def cmd_recording_key(args: argparse.Namespace) -> int:
    """Write a fresh key for encrypting recordings at rest (mode 0600)."""
    from recorder.sealed import new_kek_file

    path = Path(args.path)
    if path.exists() and not args.force:
        print(
            f"{path} exists; --force replaces it (its recordings become unreadable)",
            file=sys.stderr,
        )
        return 1
    new_kek_file(path)
    print(f"wrote {path}; set recording.encryption_key_file to it, and back it up apart")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    cfg = _load(args)
    print(
        f"config ok: {len(cfg.entries)} entries, store "
        f"{'redis' if cfg.store.redis_url else 'memory'}, data dir {cfg.data_path}"
    )
    return 0


def cmd_user_add(args: argparse.Namespace) -> int:
    cfg = _load(args)
    password = args.password or os.environ.get("LIVEDESK_NEW_PASSWORD")
    if not password:
        if not sys.stdin.isatty():
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = getpass.getpass(f"password for {args.name}: ")
    if len(password) < 8:
        print("error: the password must be at least 8 characters", file=sys.stderr)
        return 2
    user = archive.User(
        username=args.name,
        display_name=args.display_name or args.name,
        role=args.role,
        skills=tuple(_csv(args.skills)),
        tiers=tuple(_csv(args.tiers)),
        capacity=args.capacity or cfg.routing.default_capacity,
        password_hash=auth.hash_password(password),
    )
    created = archive.blocking(cfg, lambda db: db.put_user(user, now=time.time()))
    existed = not created
    print(
        f"{'updated' if existed else 'added'} {args.role} {args.name}"
        f" (skills: {','.join(user.skills) or '-'}, tiers: {','.join(user.tiers) or 'all'},"
        f" capacity: {user.capacity})"
    )
    return 0


def cmd_user_disable(args: argparse.Namespace) -> int:
    """Disable (or, with ``enable``, re-enable) a staff account: a disabled one cannot
    log in, and its open consoles close within ``auth.recheck_s``."""
    cfg = _load(args)
    disabled = args.user_command == "disable"

    async def change(db: archive.Archive) -> bool:
        user = await db.get_user(args.name)
        if user is None:
            return False
        await db.put_user(msgspec.structs.replace(user, disabled=disabled), now=time.time())
        return True

    if not archive.blocking(cfg, change):
        print(f"error: no staff user {args.name!r}", file=sys.stderr)
        return 2
    print(f"{'disabled' if disabled else 'enabled'} {args.name}")
    return 0


def cmd_token_customer(args: argparse.Namespace) -> int:
    cfg = _load(args)
    ct = cfg.customer_tokens
    if not ct.secret:
        print(
            "error: customer_tokens.secret is not set (LIVEDESK_CUSTOMER_TOKEN_SECRET)",
            file=sys.stderr,
        )
        return 2
    print(
        auth.mint_customer(
            args.sub,
            args.tier,
            ct.secret,
            name=args.name or "",
            ttl_s=args.ttl or ct.default_ttl_s,
            issuer=ct.issuer,
            algorithm=ct.algorithm,
        )
    )
    return 0


def cmd_archive_copy(args: argparse.Namespace) -> int:
    """Move one node's SQLite archive into the PostgreSQL archive several nodes share."""
    from pathlib import Path

    from signaling.archive.copy import CopyRefused, copy_archive
    from signaling.archive.postgres import PostgresArchive

    cfg = _load(args)
    source_path = Path(args.source).expanduser() if args.source else cfg.archive_path
    if not source_path.exists():
        print(f"archive copy: no SQLite archive at {source_path}", file=sys.stderr)
        return 2
    if not args.to.startswith(("postgresql://", "postgres://")):
        print("archive copy: --to must be a postgresql:// URL", file=sys.stderr)
        return 2
    where = config.redact_url(args.to)
    started = time.monotonic()
    shown: dict[str, int] = {}

    def progress(table: str, done: int, total: int) -> None:
        pct = f"{done * 100 // total}%" if total else "-"
        if shown.get(table) != done:
            shown[table] = done
            print(f"  {table}: {done}/{total} ({pct})", file=sys.stderr, flush=True)

    async def run(source: archive.Archive) -> dict[str, int]:
        target = PostgresArchive(args.to)
        await target.start()
        try:
            return await copy_archive(source, target, chunk=args.chunk, progress=progress)
        finally:
            await target.close()

    print(f"copying {source_path} into {where}", file=sys.stderr)
    try:
        copied = archive.blocking(config.from_dict({"archive": {"path": str(source_path)}}), run)
    except CopyRefused as exc:
        print(f"archive copy refused: {exc.message}", file=sys.stderr)
        return 1
    rows = sum(copied.values())
    print(
        f"copied {rows} rows in {time.monotonic() - started:.1f} s "
        f"({', '.join(f'{k} {v}' for k, v in copied.items() if v)}); set archive.url"
        " (LIVEDESK_DATABASE_URL) on every node to use it"
    )
    return 0


def _csv(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="livedesk", description="live visual customer support")
    top.add_argument("--version", action="version", version=f"livedesk {__version__}")
    sub = top.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", help="TOML file (default: ./livedesk.toml if present)")
        p.add_argument("--data-dir", dest="data_dir")

    run = sub.add_parser("run", help="start the server")
    common(run)
    run.add_argument("--host")
    run.add_argument("--port", type=int)
    run.add_argument(
        "--workers",
        type=int,
        default=1,
        help="run this many node processes on one port (needs store.redis_url)",
    )
    run.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    run.set_defaults(fn=cmd_run)

    init = sub.add_parser("init", help="write a commented livedesk.toml")
    init.add_argument("path", nargs="?", default="livedesk.toml")
    init.add_argument("--force", action="store_true")
    init.set_defaults(fn=cmd_init)

    key = sub.add_parser("recording-key", help="write a key for encrypting recordings at rest")
    key.add_argument("path")
    key.add_argument("--force", action="store_true")
    key.set_defaults(fn=cmd_recording_key)

    check = sub.add_parser("check-config", help="validate the configuration and exit")
    common(check)
    check.set_defaults(fn=cmd_check)

    user = sub.add_parser("user", help="manage staff users").add_subparsers(
        dest="user_command", required=True
    )
    add = user.add_parser("add", help="add or update a staff user")
    common(add)
    add.add_argument("name")
    add.add_argument("--role", required=True, choices=[r.value for r in auth.StaffRole])
    add.add_argument("--display-name", dest="display_name")
    add.add_argument("--skills", help="comma-separated")
    add.add_argument("--tiers", help="comma-separated; empty serves every tier")
    add.add_argument("--capacity", type=int, choices=range(1, 101), metavar="1-100")
    add.add_argument("--password", help="else LIVEDESK_NEW_PASSWORD, stdin or a prompt")
    add.set_defaults(fn=cmd_user_add)
    for verb, text in (
        ("disable", "disable a staff user: no login, open consoles close"),
        ("enable", "enable a disabled staff user again"),
    ):
        toggle = user.add_parser(verb, help=text)
        common(toggle)
        toggle.add_argument("name")
        toggle.set_defaults(fn=cmd_user_disable)

    arch = sub.add_parser("archive", help="the archive").add_subparsers(
        dest="archive_command", required=True
    )
    copy = arch.add_parser(
        "copy", help="copy this configuration's SQLite archive into an empty PostgreSQL one"
    )
    common(copy)
    copy.add_argument("--from", dest="source", help="a SQLite file (default: archive.path)")
    copy.add_argument("--to", required=True, help="postgresql://user@host:5432/db")
    copy.add_argument("--chunk", type=int, default=2000, help=argparse.SUPPRESS)
    copy.set_defaults(fn=cmd_archive_copy)

    token = sub.add_parser("token", help="mint tokens").add_subparsers(
        dest="token_command", required=True
    )
    cust = token.add_parser("customer", help="a customer token, as a company backend would")
    common(cust)
    cust.add_argument("--sub", required=True)
    cust.add_argument("--tier", required=True)
    cust.add_argument("--name")
    cust.add_argument("--ttl", type=float, help="seconds")
    cust.set_defaults(fn=cmd_token_customer)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from signaling import logs

    logs.configure("warning")  # `run` raises it to the configured level
    try:
        return int(args.fn(args))
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except archive.ArchiveError as exc:
        where = args_archive(args)
        print(f"archive error ({where}): {exc.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
