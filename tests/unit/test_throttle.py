"""--limit-upload: the rate as a person writes it, and a throttle that holds a run to it."""

from __future__ import annotations

import threading
import time

import pytest

from docbackup.errors import ConfigError
from docbackup.storage.throttle import BURST_S, Throttle, ThrottledBody, parse_rate


@pytest.mark.parametrize(
    ("text", "rate"),
    [
        ("500KB/s", 500_000),
        ("2MB/s", 2_000_000),
        ("2 MB", 2_000_000),
        ("1.5MiB/s", 1.5 * 1024 * 1024),
        ("10Mbit/s", 1_250_000),
        ("64kbit/s", 8_000),
        ("250000", 250_000),
    ],
)
def test_rates_read_as_written(text: str, rate: float) -> None:
    assert parse_rate(text) == pytest.approx(rate)


@pytest.mark.parametrize(
    "text", ["fast", "", "2 MB/h", "-1MB/s", "500", "1KiB/s extra", "10Mbps", "10Mb/s", "500kb"]
)
def test_an_unreadable_or_useless_rate_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_rate(text)


def test_threads_sharing_a_throttle_are_held_to_its_rate_together() -> None:
    rate = 4_000_000.0
    throttle = Throttle(rate)
    sent = 4 * 25 * 64 * 1024  # four senders of 25 blocks each: 6.55 MB, about 1.6 s

    def sender() -> None:
        for _ in range(25):
            throttle.take(64 * 1024)

    started = time.monotonic()
    senders = [threading.Thread(target=sender) for _ in range(4)]
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join()
    took = time.monotonic() - started

    assert took >= sent / rate - BURST_S - 0.05
    assert took < sent / rate + 1.0  # no sender starved


def test_a_throttled_body_is_the_bytes_it_was_given() -> None:
    data = bytes(range(256)) * 1000
    body = ThrottledBody(data, Throttle(100_000_000))
    got = bytearray()
    buffer = bytearray(70_000)
    while n := body.readinto(buffer):
        got += buffer[:n]
    assert bytes(got) == data
