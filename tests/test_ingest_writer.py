"""The ingest thread as the store's one writer: other threads' writes, a stall, a stop (review)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from foundation.configfile import load_config
from hub.config import HubConfig
from hub.errors import StoreError
from hub.ingest import Fault
from hub.service import HubService
from tests.hub_helpers import hub_config


def opened(tmp_path: Path) -> HubService:
    path = hub_config(tmp_path, None, agent_key="k" * 40)
    return HubService(load_config(path, HubConfig), tmp_path).open()


def test_run_sync_runs_on_the_ingest_thread_refuses_in_a_stall_and_inline_after_stop(tmp_path: Path) -> None:
    service = opened(tmp_path)
    ingest = service.ingest
    assert ingest is not None
    assert ingest.run_sync(lambda: threading.current_thread().name) == "MainThread"  # not started: inline
    ingest.start()
    try:
        assert ingest.run_sync(lambda: threading.current_thread().name) == "hub-ingest"
        ingest.fault = Fault("commit", "disk full", 0)
        with pytest.raises(StoreError, match="disk full"):
            ingest.run_sync(lambda: None)  # at once, not after a 30 s wait
        ingest.fault = None
    finally:
        ingest.stop()
    assert ingest.run_sync(lambda: threading.current_thread().name) == "MainThread"  # stopped: inline
    service.store.close()


def test_a_write_whose_caller_gave_up_never_runs_later(tmp_path: Path) -> None:
    service = opened(tmp_path)
    ingest = service.ingest
    assert ingest is not None
    ran: list[str] = []
    gate = threading.Event()
    ingest.start()
    try:
        ingest.call(lambda: gate.wait(5) and None, "busy")  # the thread is busy for a while
        with pytest.raises(TimeoutError):
            ingest.run_sync(lambda: ran.append("late"), timeout_s=0.2)
        gate.set()
        time.sleep(0.5)
        assert ran == []
    finally:
        gate.set()
        ingest.stop()
    service.store.close()


def test_a_write_queued_as_the_ingest_stops_is_done_not_left_waiting(tmp_path: Path) -> None:
    service = opened(tmp_path)
    ingest = service.ingest
    assert ingest is not None
    ingest.start()
    results: list[Any] = []
    callers = [
        threading.Thread(target=lambda: results.append(ingest.run_sync(lambda: 1, timeout_s=5)))
        for _ in range(20)
    ]
    for caller in callers:
        caller.start()
    ingest.stop()
    for caller in callers:
        caller.join(6)
    assert results == [1] * 20
    service.store.close()
