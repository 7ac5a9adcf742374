"""The `crm` command as an operator runs it: init, create-admin, demo, plugins, cron."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ENCRYPTION_KEY

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def crm(db_url, tmp_path_factory):
    env = {
        **os.environ,
        "CRM_DATABASE_URL": db_url,
        "CRM_EXTRA_PLUGINS": "tests.plugins.sample",
        "CRM_LOAD_ENTRYPOINTS": "0",
        "CRM_SECRET_KEY": "cli-secret",
        "CRM_ENCRYPTION_KEY": ENCRYPTION_KEY,
        "CRM_INSTANCE_PATH": str(tmp_path_factory.mktemp("instance")),
    }
    env.pop("REDIS_URL", None)

    def run(*args, ok=True):
        result = subprocess.run([sys.executable, "-m", "core.cli", *args], cwd=ROOT, env=env, capture_output=True,
                                text=True, timeout=300)
        if ok:
            assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
        return result

    return run


def test_init_then_create_admin_non_interactively(crm):
    assert "database ready" in crm("init").stdout
    assert "admin boss created" in crm("create-admin", "--username", "boss", "--password", "long-enough-1").stdout
    again = crm("create-admin", "--username", "boss", "--password", "long-enough-1", ok=False)
    assert again.returncode != 0 and "username: boss exists already" in again.stderr
    short = crm("create-admin", "--username", "tiny", "--password", "short", ok=False)
    assert short.returncode != 0 and "password" in short.stderr


def test_demo_twice_keeps_the_data_and_prints_logins(crm):
    first = crm("demo", "--no-serve")
    assert "hq" in first.stdout and "sh01_agent" in first.stdout and "demo12345" in first.stdout
    second = crm("demo", "--no-serve")
    assert second.stdout.count("sh01_agent") == 1
    listing = crm("plugins", "list").stdout
    # demo switched every installed plugin on everywhere
    assert "sample" in listing and "1.2.3" in listing and "all franchises" in listing


def test_plugins_enable_and_disable_by_franchise_region_and_all(crm):
    crm("plugins", "disable", "sample", "--all")
    assert "active: nowhere" in crm("plugins", "list").stdout
    crm("plugins", "enable", "sample", "--franchise", "SH01")
    assert "active: SH01" in crm("plugins", "list").stdout
    crm("plugins", "enable", "sample", "--region", "SOUTH")
    line = next(l for l in crm("plugins", "list").stdout.splitlines() if l.startswith("sample"))
    assert "SH01" in line and "GZ01" in line and "BJ01" not in line
    crm("plugins", "disable", "sample", "--franchise", "GZ01")
    line = next(l for l in crm("plugins", "list").stdout.splitlines() if l.startswith("sample"))
    assert "GZ01" not in line and "SZ01" in line


def test_plugins_commands_explain_bad_input(crm):
    unknown = crm("plugins", "enable", "nosuch", "--all", ok=False)
    assert unknown.returncode != 0 and "unknown plugin: nosuch" in unknown.stderr
    bad_code = crm("plugins", "enable", "sample", "--franchise", "ZZ99", ok=False)
    assert bad_code.returncode != 0 and "--franchise: no franchise with code ZZ99" in bad_code.stderr
    no_scope = crm("plugins", "enable", "sample", ok=False)
    assert no_scope.returncode != 0 and "exactly one of" in no_scope.stderr


def test_cron_once_runs_what_is_due_per_active_franchise(crm):
    out = crm("cron", "--once").stdout
    assert "enqueued" in out
    count = int(out.split("enqueued ")[1].split(" ")[0])
    assert count >= 1  # the sample plugin's tick, once per franchise where it is active
    again = crm("cron", "--once").stdout
    assert "enqueued 0" in again
