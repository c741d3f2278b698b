"""`docbackup schedule`, in-process, against fake `crontab`, `systemctl` and `schtasks`.

The fakes are small programs first on PATH, in a temporary HOME: they keep their state (the
crontab, whether the timer is enabled) in files beside them and log every call, so each test can
check what was asked of the scheduler. Every test also checks the fakes are the ones PATH finds:
the machine's real crontab and user manager are never touched.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from docbackup.cli.schedule import schedule
from docbackup.schedule import base as schedule_module
from docbackup.schedule.base import MARKER

LOG_CALL = """
import json, os, sys
HERE = os.path.dirname(os.path.abspath(__file__))
NAME = os.path.basename(__file__)
with open(os.path.join(HERE, "calls.jsonl"), "a") as log:
    log.write(json.dumps([NAME, *sys.argv[1:]]) + "\\n")
def flag(name):
    return os.path.exists(os.path.join(HERE, name))
"""

FAKE_SYSTEMCTL = """
args = sys.argv[1:]
if args[:1] == ["--user"]:
    args = args[1:]
verb = args[0] if args else ""
state = os.path.join(HERE, "timer-enabled")
if flag("systemd-down"):
    sys.stderr.write("Failed to connect to bus: No medium found\\n")
    sys.exit(1)
if flag("fail-" + verb):
    sys.stderr.write("Failed to " + verb + " unit:\\nAccess denied\\n")
    sys.exit(1)
if verb == "show-environment":
    print("HOME=" + os.environ.get("HOME", ""))
elif verb == "enable":
    open(state, "w").close()
elif verb == "disable" and os.path.exists(state):
    os.remove(state)
elif verb == "show":
    on = os.path.exists(state)
    print("ActiveState=" + ("active" if on else "inactive"))
    print("UnitFileState=" + ("enabled" if on else "disabled"))
    print("NextElapseUSecRealtime=" + ("Sat 2026-11-21 02:00:00 CET" if on else ""))
"""

FAKE_CRONTAB = """
table = os.path.join(HERE, "crontab.txt")
args = sys.argv[1:]
if args == ["-l"]:
    if not os.path.exists(table):
        sys.stderr.write("no crontab for tester\\n")
        sys.exit(1)
    with open(table, "rb") as f:
        sys.stdout.buffer.write(f.read())
elif args == ["-"]:
    data = sys.stdin.buffer.read()
    if data and not data.endswith(b"\\n"):
        sys.stderr.write("premature EOF\\n")
        sys.exit(1)
    with open(table, "wb") as f:
        f.write(data)
else:
    sys.exit(2)
"""

FAKE_SCHTASKS = """
from html import escape
task = os.path.join(HERE, "task.json")
args = sys.argv[1:]
if args[0] == "/Create":
    with open(task, "w") as f:
        json.dump({"at": args[args.index("/ST") + 1], "run": args[args.index("/TR") + 1]}, f)
elif args[0] == "/Query":
    if not os.path.exists(task):
        sys.stderr.write("ERROR: The system cannot find the file specified.\\n")
        sys.exit(1)
    with open(task) as f:
        t = json.load(f)
    program, _, arguments = t["run"][1:].partition('" ')
    print("<Task><Triggers><CalendarTrigger><StartBoundary>2026-11-21T" + t["at"] + ":00"
          + "</StartBoundary></CalendarTrigger></Triggers><Actions><Exec><Command>"
          + escape(program) + "</Command><Arguments>" + escape(arguments)
          + "</Arguments></Exec></Actions></Task>")
elif args[0] == "/Delete" and os.path.exists(task):
    os.remove(task)
"""

# Stands in for the installed docbackup: says how it was called, as the log will show.
FAKE_DOCBACKUP = """
with open(os.path.join(HERE, "args.json"), "w") as f:
    json.dump(sys.argv[1:], f)
print("docbackup ran")
"""

# So the random delay can be checked without waiting for it.
FAKE_SLEEP = """
with open(os.path.join(HERE, "slept.txt"), "a") as f:
    f.write(" ".join(sys.argv[1:]) + "\\n")
"""


def _fake(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text(f"#!{sys.executable}\n{LOG_CALL}{body}", encoding="utf-8")
    path.chmod(0o755)
    return path


@dataclass
class Machine:
    home: Path
    fakes: Path
    apps: Path  # holds the fake docbackup, in a folder with a space in its name
    config: Path  # the default config file
    log: Path  # where the cron job's output goes

    @property
    def docbackup(self) -> Path:
        return self.apps / "docbackup"

    def calls(self, tool: str | None = None) -> list[list[str]]:
        lines: list[list[str]] = []
        for folder in (self.fakes, self.apps):
            calls = folder / "calls.jsonl"
            if calls.exists():
                lines += [json.loads(line) for line in calls.read_text().splitlines()]
        return [c[1:] for c in lines if tool is None or c[0] == tool]

    def crontab(self) -> str:
        return (self.fakes / "crontab.txt").read_text(encoding="utf-8")

    def set_crontab(self, text: str) -> None:
        (self.fakes / "crontab.txt").write_text(text, encoding="utf-8")

    def systemd_down(self) -> None:
        (self.fakes / "systemd-down").touch()

    def fail(self, verb: str) -> None:
        (self.fakes / f"fail-{verb}").touch()

    @property
    def units(self) -> Path:
        return self.home / "xdg-config" / "systemd" / "user"


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Machine:
    home = tmp_path / "home"
    fakes = tmp_path / "fakes"
    apps = tmp_path / "my apps" / "bin"
    for folder in (home, fakes, apps):
        folder.mkdir(parents=True)
    for name, body in (
        ("systemctl", FAKE_SYSTEMCTL),
        ("crontab", FAKE_CRONTAB),
        ("schtasks", FAKE_SCHTASKS),
        ("sleep", FAKE_SLEEP),
    ):
        _fake(fakes, name, body)
    _fake(apps, "docbackup", FAKE_DOCBACKUP)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "xdg-config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / "xdg-state"))
    monkeypatch.setenv("PATH", os.pathsep.join([str(fakes), str(apps), "/usr/bin", "/bin"]))
    monkeypatch.delenv("DOCBACKUP_CONFIG", raising=False)
    for tool in ("systemctl", "crontab", "docbackup"):
        found = shutil.which(tool)
        assert found is not None
        assert Path(found).parent in (fakes, apps), f"PATH finds a real {tool}: {found}"
    config = home / "xdg-config" / "docbackup" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("[sets]\n")
    return Machine(home, fakes, apps, config, home / "xdg-state" / "docbackup" / "schedule.log")


def run(*args: str) -> Result:
    return CliRunner().invoke(schedule, list(args), catch_exceptions=False)


def ours(table: str) -> list[str]:
    return [line for line in table.splitlines() if line.endswith(MARKER)]


def cron_hands_to_sh(line: str) -> str:
    """What cron runs with /bin/sh -c for a crontab line: after the five time fields, up to
    the first unescaped % (the rest would be stdin), with each \\% turned into %."""
    command = line.split(None, 5)[5]
    out: list[str] = []
    i = 0
    while i < len(command):
        if command.startswith("\\%", i):
            out.append("%")
            i += 2
        elif command[i] == "%":
            break
        else:
            out.append(command[i])
            i += 1
    return "".join(out)


# --- cron -------------------------------------------------------------------------------------

USER_TABLE = (
    "MAILTO=office@example.com\n"
    "# the user's own jobs\n"
    "0 * * * * /usr/bin/true\n"
    "\n"
    '30 1 * * 1 date +\\%F >> "$HOME/weekly.log"   \n'
)


def test_cron_install_adds_one_marked_line_and_keeps_the_rest(machine: Machine) -> None:
    # GIVEN a user crontab with jobs of its own, and no user manager
    machine.set_crontab(USER_TABLE)
    machine.systemd_down()

    # WHEN the schedule is installed with cron
    result = run("install", "--method", "cron", "--time", "02:00", "--random-delay", "15")

    # THEN one marked line is added after the user's lines, which are kept byte for byte
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("installed: crontab line, daily at 02:00")
    table = machine.crontab()
    assert table.startswith(USER_TABLE)
    (line,) = ours(table)
    assert table == USER_TABLE + line + "\n"
    assert line.startswith("0 2 * * * sleep $(od -An -N4 -tu4 /dev/urandom | awk ")
    assert "int($1 / 900) * 900" in line
    assert f"'{machine.docbackup}' --config {machine.config} run" in line
    assert f">>{machine.log} 2>&1 {MARKER}" in line
    assert machine.log.parent.is_dir()
    assert ["-"] in machine.calls("crontab")


def test_cron_install_twice_changes_nothing(machine: Machine) -> None:
    machine.systemd_down()
    assert run("install", "--method", "cron").exit_code == 0
    first = machine.crontab()

    again = run("install", "--method", "cron")

    assert again.exit_code == 0, again.output
    assert again.stdout.startswith("unchanged: the crontab line already runs daily at 02:00")
    assert machine.crontab() == first
    assert len(ours(first)) == 1
    assert machine.calls("crontab").count(["-"]) == 1


def test_cron_changed_time_replaces_the_line_in_place(machine: Machine) -> None:
    machine.set_crontab("0 * * * * /usr/bin/true\n")
    assert run("install", "--method", "cron", "--time", "02:00").exit_code == 0
    machine.set_crontab(machine.crontab() + "15 4 * * * /usr/bin/false\n")

    result = run("install", "--method", "cron", "--time", "3:45")

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("updated: crontab line, daily at 03:45")
    lines = machine.crontab().splitlines()
    assert len(lines) == 3
    assert lines[0] == "0 * * * * /usr/bin/true"
    assert lines[1].startswith("45 3 * * * ") and lines[1].endswith(MARKER)
    assert lines[2] == "15 4 * * * /usr/bin/false"


def test_cron_remove_leaves_the_users_table_as_it_was(machine: Machine) -> None:
    machine.set_crontab(USER_TABLE)
    machine.systemd_down()
    assert run("install").exit_code == 0
    assert len(ours(machine.crontab())) == 1

    result = run("remove")

    assert result.exit_code == 0, result.output
    assert result.stdout == "removed: crontab line (crontab)\n"
    assert machine.crontab() == USER_TABLE


def test_cron_does_not_stack_the_header_old_crons_list(machine: Machine) -> None:
    # Vixie cron adds these three lines on every install and shows them in `crontab -l`.
    machine.set_crontab(
        "# DO NOT EDIT THIS FILE - edit the master and reinstall.\n"
        "# (/tmp/crontab.XXXXabcdef installed on Sat Nov 21 02:00:00 2026)\n"
        "# (Cron version -- $Id: crontab.c,v 2.13 1994/01/17 03:20:37 vixie Exp $)\n"
        "0 * * * * /usr/bin/true\n"
    )
    machine.systemd_down()

    assert run("install").exit_code == 0

    (line,) = ours(machine.crontab())
    assert machine.crontab() == f"0 * * * * /usr/bin/true\n{line}\n"


def test_remove_with_nothing_installed_says_so(machine: Machine) -> None:
    # No crontab at all ("no crontab for tester", exit 1) and no unit files.
    result = run("remove")

    assert result.exit_code == 0, result.output
    assert result.stdout == "nothing to remove: no docbackup schedule is installed\n"
    assert machine.calls("crontab") == [["-l"]]
    assert ["-"] not in machine.calls("crontab")
    assert not any(c[1:2] == ["disable"] for c in machine.calls("systemctl"))


@pytest.mark.parametrize("delay", [0, 1])
def test_cron_line_runs_in_posix_sh_with_awkward_paths(machine: Machine, delay: int) -> None:
    # GIVEN a config path with a space, a quote and a percent sign (cron's line break)
    config = machine.home / "it's 100% mine" / "config.toml"
    machine.systemd_down()
    result = run("install", "--config", str(config), "--random-delay", str(delay))
    assert result.exit_code == 0, result.output
    assert "does not exist yet" in result.stderr
    (line,) = ours(machine.crontab())
    assert "100\\%" in line

    # WHEN the line runs as cron runs it: /bin/sh -c (dash on Debian), cron's minimal PATH
    # (with the fake sleep first, so the random delay is recorded instead of waited for)
    command = cron_hands_to_sh(line)
    subprocess.run(
        ["/bin/sh", "-c", command],
        env={"PATH": f"{machine.fakes}:/usr/bin:/bin", "HOME": str(machine.home)},
        check=True,
        timeout=30,
    )

    # THEN docbackup got exactly its arguments, its output is in the log, and the delay was
    # a whole number of seconds inside the window
    args = json.loads((machine.apps / "args.json").read_text())
    assert args == ["--config", str(config), "run"]
    assert machine.log.read_text() == "docbackup ran\n"
    slept = machine.fakes / "slept.txt"
    if delay == 0:
        assert "sleep" not in command
        assert not slept.exists()
    else:
        (seconds,) = slept.read_text().split()
        assert 0 <= int(seconds) < 60


def test_cron_random_delay_covers_the_window(machine: Machine) -> None:
    machine.systemd_down()
    assert run("install", "--random-delay", "1").exit_code == 0
    (line,) = ours(machine.crontab())
    expression = re.search(r"\$\((.*?)\);", cron_hands_to_sh(line))
    assert expression is not None

    samples = subprocess.run(
        ["/bin/sh", "-c", f"for i in $(seq 40); do {expression.group(1)}; done"],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout.split()

    assert len(samples) == 40
    assert all(0 <= int(s) < 60 for s in samples)
    assert len(set(samples)) > 1


# --- systemd ----------------------------------------------------------------------------------


def test_systemd_install_writes_both_units_and_enables_the_timer(machine: Machine) -> None:
    result = run("install", "--time", "02:00", "--random-delay", "30")

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(
        "installed: systemd user timer, daily at 02:00 (random delay up to 30 min)"
    )
    assert "loginctl enable-linger" in result.stdout
    timer = (machine.units / "docbackup.timer").read_text()
    assert "\nOnCalendar=*-*-* 02:00:00\n" in timer
    assert "\nPersistent=true\n" in timer
    assert "\nRandomizedDelaySec=30min\n" in timer
    assert "[Install]\nWantedBy=timers.target\n" in timer
    service = (machine.units / "docbackup.service").read_text()
    assert "\nType=oneshot\n" in service
    assert "\nDescription=" in service
    assert f'\nExecStart="{machine.docbackup}" --config {machine.config} run\n' in service
    calls = machine.calls("systemctl")
    assert ["--user", "show-environment"] in calls
    reload = calls.index(["--user", "daemon-reload"])
    assert calls.index(["--user", "enable", "--now", "docbackup.timer"]) > reload
    assert machine.calls("crontab") == [["-l"]]  # only to look for an older cron entry


def test_systemd_install_twice_changes_nothing_and_a_new_time_updates(machine: Machine) -> None:
    assert run("install").exit_code == 0
    before = len(machine.calls("systemctl"))

    again = run("install")

    assert again.exit_code == 0, again.output
    assert again.stdout.startswith("unchanged: the systemd user timer already runs daily at 02:00")
    assert ["--user", "daemon-reload"] not in machine.calls("systemctl")[before:]

    later = run("install", "--time", "23:30")

    assert later.exit_code == 0, later.output
    assert later.stdout.startswith("updated: systemd user timer, daily at 23:30")
    timer = (machine.units / "docbackup.timer").read_text()
    assert "\nOnCalendar=*-*-* 23:30:00\n" in timer
    assert "\nRandomizedDelaySec=0\n" in timer
    assert ["--user", "daemon-reload"] in machine.calls("systemctl")[before:]
    assert sorted(p.name for p in machine.units.iterdir()) == [
        "docbackup.service",
        "docbackup.timer",
    ]


def test_systemd_remove_disables_the_timer_and_deletes_the_units(machine: Machine) -> None:
    assert run("install").exit_code == 0
    before = len(machine.calls("systemctl"))

    result = run("remove")

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("removed: systemd user timer")
    assert list(machine.units.iterdir()) == []
    calls = machine.calls("systemctl")[before:]
    disable = calls.index(["--user", "disable", "--now", "docbackup.timer"])
    assert calls.index(["--user", "daemon-reload"]) > disable
    assert run("remove").stdout.startswith("nothing to remove")


def test_systemd_quotes_a_path_with_spaces_percent_and_dollar(machine: Machine) -> None:
    config = machine.home / "my $HOME 100%" / "config.toml"

    result = run("install", "--config", str(config))

    assert result.exit_code == 0, result.output
    service = (machine.units / "docbackup.service").read_text()
    quoted = str(config).replace("%", "%%").replace("$", "$$")
    assert f'\nExecStart="{machine.docbackup}" --config "{quoted}" run\n' in service


def test_a_failing_systemctl_is_one_line_and_exit_1(machine: Machine) -> None:
    machine.fail("enable")

    result = run("install", "--method", "systemd")

    assert result.exit_code == 1
    assert result.stderr == (
        "docbackup: error: `systemctl --user enable --now docbackup.timer` failed (exit 1): "
        "Failed to enable unit: Access denied\n"
    )


# --- choosing, validating, showing -------------------------------------------------------------


def test_auto_picks_cron_without_a_user_manager(machine: Machine) -> None:
    machine.systemd_down()

    result = run("install")

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("installed: crontab line")
    assert not machine.units.exists()
    assert machine.calls("systemctl") == [["--user", "show-environment"]]
    assert len(ours(machine.crontab())) == 1

    # Asking for systemd by name, where it cannot work, is bad input.
    explicit = run("install", "--method", "systemd")
    assert explicit.exit_code == 2
    assert explicit.stderr.startswith("docbackup: error: cannot use systemd user timers here")


def test_install_says_when_an_older_entry_elsewhere_would_run_too(machine: Machine) -> None:
    # GIVEN a cron line from a night without a user manager
    machine.systemd_down()
    assert run("install").exit_code == 0
    (machine.fakes / "systemd-down").unlink()

    # WHEN the user manager answers again, auto picks systemd
    result = run("install")

    # THEN the old line is left alone but named, with the command that removes it
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("installed: systemd user timer")
    assert "`docbackup schedule remove --method cron`" in result.stdout
    assert len(ours(machine.crontab())) == 1
    assert "more than one schedule is installed" in run("show").stdout


@pytest.mark.parametrize("bad", ["24:00", "2am", "02:60", "0200", "", "12:5"])
def test_a_bad_time_is_a_usage_error_before_anything_runs(machine: Machine, bad: str) -> None:
    result = run("install", "--time", bad)

    assert result.exit_code == 2
    assert "Invalid value for '--time'" in result.stderr
    assert machine.calls() == []


def test_show_prints_the_entry_and_the_windows_command(machine: Machine) -> None:
    machine.systemd_down()
    assert run("install", "--time", "03:30").exit_code == 0

    result = run("show")

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "installed: crontab line, daily at 03:30\n" in out
    assert f"command:  '{machine.docbackup}' --config {machine.config} run >>" in out
    assert "on Windows, run in a Command Prompt (cmd.exe):\n" in out
    assert (
        'schtasks /Create /TN "docbackup nightly" /SC DAILY /ST 03:30 '
        '/TR "\\"C:\\path\\to\\docbackup.exe\\" --config '
        '\\"%APPDATA%\\docbackup\\config.toml\\" run" /F\n'
    ) in out

    doc = json.loads(run("show", "--json").stdout)
    assert [e["method"] for e in doc["installed"]] == ["cron"]
    assert doc["installed"][0]["at"] == "03:30"
    assert "/ST 03:30 " in doc["windows_command"]


def test_show_with_systemd_gives_the_next_run(machine: Machine) -> None:
    assert run("install", "--random-delay", "10").exit_code == 0

    doc = json.loads(run("show", "--json").stdout)

    (entry,) = doc["installed"]
    assert entry["method"] == "systemd"
    assert entry["at"] == "02:00"
    assert entry["random_delay_minutes"] == 10
    assert entry["next_run"] == "Sat 2026-11-21 02:00:00 CET"
    assert any("loginctl enable-linger" in note for note in doc["notes"])


def test_show_with_nothing_installed(machine: Machine) -> None:
    result = run("show", "--time", "01:15")

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("installed: nothing")
    assert "/SC DAILY /ST 01:15 /TR" in result.stdout


def test_on_windows_install_and_remove_run_schtasks(
    machine: Machine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(schedule_module, "on_windows", lambda: True)

    first = run("install", "--time", "02:00")
    second = run("install", "--time", "02:00")
    removed = run("remove")

    assert first.exit_code == second.exit_code == removed.exit_code == 0, first.output
    assert first.stdout.startswith("installed: Task Scheduler task, daily at 02:00")
    assert second.stdout.startswith("unchanged:")
    assert removed.stdout.startswith("removed: Task Scheduler task")
    calls = machine.calls("schtasks")
    create = [
        "/Create",
        "/TN",
        "docbackup nightly",
        "/SC",
        "DAILY",
        "/ST",
        "02:00",
        "/TR",
        f'"{machine.docbackup}" --config "{machine.config}" run',
        "/F",
    ]
    assert calls.count(create) == 1
    assert calls[-1] == ["/Delete", "/TN", "docbackup nightly", "/F"]
    assert machine.calls("systemctl") == machine.calls("crontab") == []
