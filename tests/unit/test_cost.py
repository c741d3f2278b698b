"""docbackup.cost: the monthly estimate, its inputs, and the stack shape it is built on."""

from __future__ import annotations

import copy
import inspect
import json
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from docbackup import nightly
from docbackup.cost.model import Estimate, LineItem, estimate
from docbackup.cost.prices import PRICES, Price
from docbackup.cost.stack import STACK
from docbackup.cost.workload import Workload, parse_size
from docbackup.errors import ConfigError
from tests.costaudit import emitted_metric_names, shape_from_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE: dict[str, Any] = json.loads((ROOT / "lib" / "TapStack.json").read_text())


def item(est: Estimate, service: str, starts: str) -> LineItem:
    (found,) = [i for i in est.items if i.service == service and i.item.startswith(starts)]
    return found


# --- the stack shape cannot drift from the template and the code ------------------------------


def test_the_stack_shape_is_what_the_template_and_the_function_declare() -> None:
    emitted = emitted_metric_names(inspect.getsource(nightly))

    assert shape_from_template(TEMPLATE, emitted) == STACK, (
        "lib/TapStack.yml or nightly.py changed a billed item: update docbackup.cost.stack.STACK"
    )


def test_the_shape_pins_the_billed_fixed_items() -> None:
    # Six alarms; the near-timeout one reads two metrics, so seven alarm metrics are billed.
    assert (STACK.alarms, STACK.alarm_metrics) == (6, 7)
    # The dashboard is opt-in; the key rotates at the longest period KMS allows.
    assert (STACK.dashboards, STACK.kms_keys, STACK.kms_rotation_period_days) == (0, 1, 2560)
    # Eleven metric names, all under the one Environment dimension.
    assert STACK.custom_metrics == 11
    assert STACK.log_retention_days == 365
    # Expired copies stay 7 days as noncurrent versions; access logs 90 days plus 1.
    assert (STACK.noncurrent_grace_days, STACK.access_log_days) == (7, 91)
    assert (STACK.function_memory_mb, STACK.function_arm64) == (512, True)


def test_the_shape_is_read_from_the_template_not_assumed() -> None:
    template = copy.deepcopy(TEMPLATE)
    del template["Resources"]["BackupDashboard"]["Condition"]
    template["Resources"]["BackupKMSKey"]["Properties"]["RotationPeriodInDays"] = 365

    shape = shape_from_template(template, STACK.metric_names)

    assert (shape.dashboards, shape.kms_rotation_period_days) == (1, 365)


def test_metric_names_are_found_in_the_calls_that_emit_them() -> None:
    source = 'm.add_metric("A", "Count", 1)\nm.add_metric(name="B", unit="Count", value=1)\nf("C")'

    assert emitted_metric_names(source) == {"A", "B"}


# --- the reference workload ---------------------------------------------------------------------


def test_the_reference_workload_month() -> None:
    est = estimate()

    assert est.workload == Workload(500, 200_000, 30)
    assert est.night.stored == 500
    # 15,000 live documents; the 3,500 not uploaded in the last 23 nights refresh every 23.
    assert est.night.refreshed == pytest.approx(3500 / 23)
    assert item(est, "S3", "backup copies").monthly_usd == pytest.approx(0.1034, abs=1e-4)
    assert item(est, "S3", "COPY").monthly_usd == pytest.approx(0.1136, abs=1e-4)
    # The read-back: each of the 15,000 documents' copies once a 23-night cycle, a GET each.
    assert est.night.get_class_requests == pytest.approx(500 + 2 + 15_000 / 23 + 1)
    assert item(est, "KMS", "customer managed keys").monthly_usd == 1.00
    assert item(est, "KMS", "billed key rotations").monthly_usd == 0.00
    assert item(est, "CloudWatch", "dashboards").monthly_usd == 0.00
    assert item(est, "CloudWatch", "alarms").monthly_usd == pytest.approx(0.70)
    assert item(est, "CloudWatch", "custom metrics").monthly_usd == pytest.approx(0.1375, abs=1e-3)
    # The README's figure: about $2.08 a month, $1.84 of it fixed.
    assert est.total == pytest.approx(2.080, abs=0.001)
    assert est.fixed_total == pytest.approx(1.8375)
    assert [i.item for i in est.largest(2)] == [
        "customer managed keys",
        "alarms (6, billed per metric they read)",
    ]


def test_an_old_key_has_more_billed_rotations() -> None:
    assert estimate(key_age_days=0).total == pytest.approx(estimate().total)
    assert estimate(key_age_days=2560).total == pytest.approx(estimate().total + 1)
    assert estimate(key_age_days=None).total == pytest.approx(estimate().total + 2)
    yearly = replace(STACK, kms_rotation_period_days=365)
    assert estimate(stack=yearly, key_age_days=400).total == pytest.approx(estimate().total + 1)


def test_the_stack_without_the_dashboard_and_with_rare_rotation_stays_about_two_dollars() -> None:
    lean = replace(STACK, dashboards=0, kms_rotation_period_days=2560)

    # For the key's first seven years (KMS allows a rotation period of up to 2,560 days).
    assert estimate(stack=lean, key_age_days=2559).total < 2.10
    # The dashboard would add $3, yearly rotation $1 from the key's first birthday.
    assert estimate(stack=replace(lean, dashboards=1)).total > 5.00
    yearly = replace(lean, kms_rotation_period_days=365)
    assert estimate(stack=yearly, key_age_days=400).total > 3.00


def test_free_tiers_are_shown_beside_the_total_not_taken_off_it() -> None:
    est = estimate()

    # Alarms and custom metrics fall within an unused account's free tier.
    assert est.total - est.total_in_free_tier == pytest.approx(0.842, abs=0.01)
    assert any("Free tiers are not subtracted" in note for note in est.notes)


def test_the_aws_backup_comparison_prices_the_same_workload() -> None:
    backup = estimate().aws_backup

    (storage,) = [i for i in backup if i.service == "AWS Backup"]
    # The live set once plus the versions that left it within retention: 30,000 objects.
    assert storage.quantity == pytest.approx(30_000 * 200_000 / 2**30)
    assert {i.service for i in backup} == {"AWS Backup", "S3", "CloudWatch"}
    assert estimate().aws_backup_total == pytest.approx(0.388, abs=0.001)


def test_aws_backup_bills_a_small_object_as_128_kib() -> None:
    small = estimate(Workload(average_size=10_000)).aws_backup[0]

    assert small.quantity == pytest.approx(30_000 * 128 * 1024 / 2**30)


# --- what the workload drives ---------------------------------------------------------------------


def test_refresh_copies_are_counted_in_requests_and_storage() -> None:
    reference = estimate()
    large = estimate(Workload(live_documents=150_000))

    assert large.night.refreshed == pytest.approx((150_000 - 500 * 23) / 23)
    assert large.night.put_class_requests > 5 * reference.night.put_class_requests
    assert (
        item(large, "S3", "backup copies").quantity > 5 * item(reference, "S3", "backup").quantity
    )
    # Every copy, upload or refresh, is held for retention plus the noncurrent grace.
    assert large.night.copies_held == pytest.approx((500 + large.night.refreshed) * 37)


def test_a_set_that_changes_within_every_cycle_needs_no_refresh() -> None:
    est = estimate(Workload(live_documents=500 * 23))

    assert est.night.refreshed == 0


def test_storage_follows_retention() -> None:
    thirty, sixty = estimate(Workload(retention_days=30)), estimate(Workload(retention_days=60))

    # AWS Backup holds the live set (documents a day x retention) plus as many old versions.
    assert sixty.aws_backup[0].quantity == pytest.approx(2 * thirty.aws_backup[0].quantity)
    # docbackup holds each night's copies for retention + 7 days, refresh copies included.
    ratio = item(sixty, "S3", "backup").quantity / item(thirty, "S3", "backup").quantity
    assert 1.7 < ratio < 2.2
    assert sixty.night.copies_held == pytest.approx((500 + sixty.night.refreshed) * 67)


def test_kms_requests_do_not_follow_the_number_of_objects() -> None:
    few, many = estimate(Workload(documents_per_day=50)), estimate(Workload(documents_per_day=5000))

    assert item(few, "KMS", "requests").quantity == item(many, "KMS", "requests").quantity


@given(
    st.integers(min_value=1, max_value=50_000),
    st.integers(min_value=1, max_value=50_000),
    st.sampled_from([2, 7, 14, 30, 90, 365]),
    st.one_of(st.none(), st.integers(min_value=50_000, max_value=2_000_000)),
)
def test_the_total_never_falls_as_documents_per_day_grow(
    a: int, b: int, retention: int, live: int | None
) -> None:
    low, high = sorted((a, b))

    def total(per_day: int) -> float:
        return estimate(Workload(per_day, 200_000, retention, live_documents=live)).total

    assert total(low) <= total(high) + 1e-9


# --- inputs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"documents_per_day": 0}, "documents per day must be at least 1, got 0"),
        ({"documents_per_day": -5}, "documents per day must be at least 1, got -5"),
        ({"average_size": 0}, "average size must be at least 1 bytes, got 0"),
        ({"average_size": -1}, "average size must be at least 1 bytes, got -1"),
        ({"retention_days": 0}, "retention must be at least 2 days, got 0"),
        ({"retention_days": 1}, "retention must be at least 2 days, got 1"),
        ({"live_documents": 0}, "live documents must be at least 1, got 0"),
        ({"live_documents": 10}, "live documents (10) cannot be fewer than documents per day"),
        ({"documents_per_day": 2.5}, "documents per day must be a whole number, got 2.5"),
    ],
)
def test_bad_inputs_are_refused_in_one_line(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Workload(**fields)

    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_a_negative_key_age_is_refused() -> None:
    with pytest.raises(ConfigError, match="key age must be at least 0 days"):
        estimate(key_age_days=-1)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("204800", 204_800),
        ("200KB", 200_000),
        ("200 kb", 200_000),
        ("1.5MB", 1_500_000),
        ("200KiB", 204_800),
        ("2 MiB", 2 * 1024 * 1024),
    ],
)
def test_sizes_are_read_in_bytes(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "abc", "200 XB", "-5KB", "0KB", "0.1"])
def test_unreadable_or_empty_sizes_are_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="size"):
        parse_size(text)


# --- the price table ------------------------------------------------------------------------------


def test_every_price_names_its_page_and_the_table_its_date() -> None:
    values = [getattr(PRICES, f.name) for f in fields(PRICES)]
    prices = [p for p in values if isinstance(p, Price)]

    assert PRICES.checked == "2026-11-22"
    assert PRICES.region == "us-east-1"
    assert len(prices) == 19
    for price in prices:
        assert price.source.startswith("https://aws.amazon.com/")
        assert price.source.endswith("/pricing/")
        assert price.usd > 0


# --- the command -------------------------------------------------------------------------------


def test_the_command_prints_the_items_and_both_totals() -> None:
    from click.testing import CliRunner

    from docbackup.cli.main import cli

    result = CliRunner().invoke(cli, ["cost", "--json"])

    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["total_usd"] == pytest.approx(estimate().total, abs=1e-4) and doc["total_usd"] < 2.10
    assert doc["aws_backup"]["total_usd"] == pytest.approx(estimate().aws_backup_total, abs=1e-4)
    assert all(i["source"].startswith("https://aws.amazon.com/") for i in doc["items"])
    bigger = json.loads(
        CliRunner().invoke(cli, ["cost", "--documents-per-day", "5000", "--json"]).stdout
    )
    assert bigger["total_usd"] > doc["total_usd"]


@pytest.mark.parametrize(
    "args", [["--documents-per-day", "0"], ["--average-size", "lots"], ["--retention", "-3"]]
)
def test_the_command_refuses_bad_input_in_one_line(args: list[str]) -> None:
    from click.testing import CliRunner

    from docbackup.cli.main import cli

    result = CliRunner().invoke(cli, ["cost", *args])

    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
