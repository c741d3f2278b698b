"""The fan-out's events as the function reads them, and the sets its prefixes name."""

from __future__ import annotations

import pytest

from docbackup import layout, nightly
from docbackup.errors import ConfigError

ENV = {
    "BACKUP_BUCKET": "backups",
    "KMS_KEY_ARN": "arn:aws:kms:us-east-1:123456789012:key/k",
    "SOURCE_BUCKET": "office",
    "SOURCE_PREFIX": "docs",
}
SETTINGS = nightly.Settings.from_env(ENV)
NIGHT = "2026-12-03T02:00:00Z"


def item(**fields: object) -> dict[str, object]:
    return {"trigger": "fan-out", "scheduled_time": NIGHT, **fields}


def test_an_item_names_its_set_and_prefix_and_keeps_the_scheduled_night() -> None:
    request = nightly.parse_event(
        item(set="contracts-0123456789", prefix="docs/contracts/"), "UTC", SETTINGS
    )
    assert str(request.date) == "2026-12-03"
    assert request.item == nightly.Item("contracts-0123456789", "docs/contracts/", False)


@pytest.mark.parametrize(
    ("fields", "said"),
    [
        ({"set": "x", "prefix": "elsewhere/"}, "outside the source prefix"),
        ({"set": "x", "prefix": "docsfake/"}, "outside the source prefix"),
        ({"set": "Not A Set", "prefix": "docs/a/"}, "invalid set name"),
        ({"set": "x"}, "needs set and prefix"),
        ({"set": "x", "prefix": "docs/a/", "top_level_only": "yes"}, "needs set and prefix"),
        ({"set": "x", "prefix": "docs/a/", "date": "2026-01-01"}, "unknown fan-out item"),
    ],
)
def test_an_item_cannot_reach_outside_the_stacks_source(
    fields: dict[str, object], said: str
) -> None:
    with pytest.raises(ConfigError, match=said):
        nightly.parse_event(item(**fields), "UTC", SETTINGS)


def test_a_prefix_names_the_same_set_every_night_and_no_other_prefixs() -> None:
    first = layout.set_for_prefix("docs/Invoices 2024/")
    assert first == layout.set_for_prefix("docs/Invoices 2024/")
    assert first.startswith("invoices-2024-")
    names = {
        layout.set_for_prefix(p)
        for p in ("docs/Invoices/", "docs/invoices/", "docs/invoices 2024/", "docs/ÉTÉ/", "docs/-/")
    }
    assert len(names) == 5
    assert all(layout.check_set_name(n) == n for n in names)
