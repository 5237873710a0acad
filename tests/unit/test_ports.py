"""The tests' free_port(): two ports asked for one config are never the same number."""

from __future__ import annotations

from tests.support.ports import free_port


def test_a_port_is_given_once_per_process() -> None:
    # Bare bind-to-0 repeats itself within a few hundred calls here (a flaky CI run refused a
    # config whose registry and proxy ports came out equal).
    ports = [free_port() for _ in range(2000)]
    assert len(set(ports)) == len(ports)
