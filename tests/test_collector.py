"""The cyclic garbage collector is paused while a render runs and always handed back: to a
threaded server only when its last render ends, and never to a process that runs without it."""

from __future__ import annotations

import gc
import threading

import pytest

from wukong_core.collector import collector_paused


def test_a_render_pauses_the_collector_and_hands_it_back_even_when_it_fails() -> None:
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("a bug")
    assert gc.isenabled()


def test_overlapping_renders_resume_the_collector_when_the_last_one_ends() -> None:
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: list[bool] = []

    def first() -> None:
        with collector_paused():
            first_in.set()
            second_in.wait(5)
        first_out.set()

    def second() -> None:
        first_in.wait(5)
        with collector_paused():
            second_in.set()
            first_out.wait(5)
            seen.append(gc.isenabled())  # the first render ended: still paused for this one

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen == [False] and gc.isenabled()


def test_a_process_that_runs_without_the_collector_keeps_it_that_way() -> None:
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_renders_that_keep_overlapping_still_collect_every_so_often(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from wukong_core import collector

    collections: list[str] = []

    def seen(phase: str, info: dict) -> None:
        if phase == "start":
            collections.append(phase)

    gc.callbacks.append(seen)
    try:
        with collector_paused():
            with collector_paused():
                pass
            assert collections == [], "a short overlap collects nothing"
            monkeypatch.setattr(collector, "MAX_PAUSE_S", 0.0)
            with collector_paused():
                pass  # ends while the outer render still holds the pause, which is too long
            assert collections == ["start"] and not gc.isenabled()
    finally:
        gc.callbacks.remove(seen)
    assert gc.isenabled()
