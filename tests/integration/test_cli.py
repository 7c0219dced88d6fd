"""The ``livedesk`` command, run as a real subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import jwt

ROOT = Path(__file__).resolve().parents[2]


def livedesk(*args: str, env: dict[str, str] | None = None, stdin: str | None = None):
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    for key in [k for k in full_env if k.startswith("LIVEDESK_") and k not in (env or {})]:
        del full_env[key]
    return subprocess.run(
        [sys.executable, "-m", "signaling", *args],
        capture_output=True,
        text=True,
        env=full_env,
        input=stdin,
        timeout=60,
        check=False,
    )


def test_init_writes_a_commented_config_that_check_config_accepts(tmp_path: Path):
    path = tmp_path / "livedesk.toml"
    out = livedesk("init", str(path))
    assert out.returncode == 0, out.stderr
    text = path.read_text()
    assert "[routing]" in text and "# " in text
    check = livedesk("check-config", "--config", str(path))
    assert check.returncode == 0, check.stderr
    assert check.stdout.startswith("config ok: 1 entries, store memory")
    again = livedesk("init", str(path))
    assert again.returncode == 1 and "exists" in again.stderr


def test_check_config_names_the_bad_key_and_value(tmp_path: Path):
    path = tmp_path / "bad.toml"
    path.write_text("[routing]\noffer_timeout_s = -3\n")
    out = livedesk("check-config", "--config", str(path))
    assert out.returncode == 2
    assert (
        out.stderr.strip() == "config error: routing.offer_timeout_s = -3: Expected `float` > 0.0"
    )


def test_bad_environment_value_stops_start_up_with_its_key(tmp_path: Path):
    out = livedesk("run", "--data-dir", str(tmp_path), env={"LIVEDESK_PORT": "eighty"})
    assert out.returncode == 2
    assert "server.port = 'eighty'" in out.stderr


def test_user_add_then_login_works(tmp_path: Path):
    out = livedesk(
        "user",
        "add",
        "mina",
        "--role",
        "agent",
        "--skills",
        "billing,ko",
        "--tiers",
        "premium",
        "--capacity",
        "4",
        "--data-dir",
        str(tmp_path),
        stdin="s3cret-pass\n",
    )
    assert out.returncode == 0, out.stderr
    assert (
        out.stdout.strip() == "added agent mina (skills: billing,ko, tiers: premium, capacity: 4)"
    )
    short = livedesk(
        "user", "add", "x", "--role", "qa", "--data-dir", str(tmp_path), stdin="short\n"
    )
    assert short.returncode == 2 and "at least 8" in short.stderr


def test_user_disable_and_enable(tmp_path: Path):
    from signaling import archive, config

    data = ["--data-dir", str(tmp_path)]
    added = livedesk("user", "add", "mina", "--role", "agent", *data, stdin="s3cret-pass\n")
    assert added.returncode == 0, added.stderr
    cfg = config.from_dict({"server": {"data_dir": str(tmp_path)}})

    def disabled() -> bool:
        user = archive.blocking(cfg, lambda db: db.get_user("mina"))
        assert user is not None and user.role == "agent"
        return user.disabled

    off = livedesk("user", "disable", "mina", *data)
    assert (off.returncode, off.stdout.strip()) == (0, "disabled mina"), off.stderr
    assert disabled()
    on = livedesk("user", "enable", "mina", *data)
    assert (on.returncode, on.stdout.strip()) == (0, "enabled mina"), on.stderr
    assert not disabled()
    nobody = livedesk("user", "disable", "nobody", *data)
    assert nobody.returncode == 2 and "no staff user 'nobody'" in nobody.stderr


def test_token_customer_mints_a_token_the_server_accepts(tmp_path: Path):
    secret = "s" * 40
    out = livedesk(
        "token",
        "customer",
        "--sub",
        "c-9",
        "--tier",
        "premium",
        "--name",
        "Lee",
        "--ttl",
        "60",
        env={"LIVEDESK_CUSTOMER_TOKEN_SECRET": secret},
    )
    assert out.returncode == 0, out.stderr
    claims = jwt.decode(out.stdout.strip(), secret, algorithms=["HS256"])
    assert (claims["sub"], claims["tier"], claims["name"]) == ("c-9", "premium", "Lee")
    assert 55 <= claims["exp"] - claims["iat"] <= 60
    missing = livedesk("token", "customer", "--sub", "c", "--tier", "t")
    assert missing.returncode == 2 and "customer_tokens.secret is not set" in missing.stderr


def test_run_with_zero_config_prints_the_demo_urls_and_login(tmp_path: Path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "signaling",
            "run",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        lines = [proc.stdout.readline() for _ in range(5)]  # type: ignore[union-attr]
        banner = "".join(lines)
        assert f"customer page : http://127.0.0.1:{port}/l/demo" in banner
        assert f"agent console : http://127.0.0.1:{port}/agent" in banner
        password = (tmp_path / "demo-login.txt").read_text().strip()
        assert f"password: {password}" in banner
        deadline = time.time() + 15
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
