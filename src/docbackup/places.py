"""Where docbackup keeps files on this machine, by each platform's own rule (platformdirs).

One rule for every path: the config file and the office machine's schedule (its systemd units
and its log) follow the same conventions, so `XDG_CONFIG_HOME` moves both or neither.
"""

from __future__ import annotations

import sys
from pathlib import Path

import platformdirs

APP = "docbackup"


def config_file() -> Path:
    """`config.toml` in the platform's config folder: ~/.config/docbackup on Linux,
    %APPDATA%\\docbackup on Windows (roaming, so it follows the person to another
    machine of the domain), ~/Library/Application Support/docbackup on macOS."""
    return platformdirs.user_config_path(APP, appauthor=False, roaming=True) / "config.toml"


def systemd_user_units() -> Path:
    """Where systemd looks for a user's own units: $XDG_CONFIG_HOME/systemd/user."""
    return platformdirs.user_config_path("systemd", appauthor=False) / "user"


def schedule_log() -> Path:
    """Where the cron job's output goes, so a failed night leaves a trace someone can read:
    ~/Library/Logs/docbackup on macOS, the XDG state folder elsewhere (a log that the next
    night appends to is state by the XDG spec's own example)."""
    if sys.platform == "darwin":
        return platformdirs.user_log_path(APP, appauthor=False) / "schedule.log"
    return platformdirs.user_state_path(APP, appauthor=False) / "schedule.log"
