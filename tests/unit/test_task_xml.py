"""Reading back the Windows task: the XML that `schtasks /Query /XML` prints, namespace and all."""

from __future__ import annotations

import pytest

from docbackup.errors import DocbackupError
from docbackup.schedule.schtasks import task_fields

# The shape Windows prints: a UTF-16 declaration, the task namespace on the root, escaped text.
WINDOWS = """<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <Triggers>
    <CalendarTrigger>
      <StartBoundary>2026-11-21T02:30:00</StartBoundary>
      <ScheduleByDay><DaysInterval>1</DaysInterval></ScheduleByDay>
    </CalendarTrigger>
  </Triggers>
  <Actions Context="Author">
    <Exec>
      <Command>"C:\\Program Files\\docbackup\\docbackup.exe"</Command>
      <Arguments>--config "C:\\Users\\A &amp; B\\config.toml" run</Arguments>
    </Exec>
  </Actions>
</Task>
"""


def test_the_task_reads_back_by_local_name_with_its_text_unescaped() -> None:
    fields = task_fields(WINDOWS)
    assert fields["StartBoundary"] == "2026-11-21T02:30:00"
    assert fields["Command"] == '"C:\\Program Files\\docbackup\\docbackup.exe"'
    assert fields["Arguments"] == '--config "C:\\Users\\A & B\\config.toml" run'


def test_an_answer_that_is_not_xml_is_said_not_guessed_at() -> None:
    with pytest.raises(DocbackupError, match="not XML"):
        task_fields("ERROR: The system cannot find the file specified.")
