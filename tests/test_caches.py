"""Work redone over a whole repository on every push is remembered for as many files as fit,
whatever the repository's size or what else the instance serves in between."""

from __future__ import annotations

from wukong_core.caches import Caches, PassMemo, Recent


def push(memo: PassMemo[str, str], files: list[str]) -> list[str]:
    """One pass over a repository, as load_many makes it; the files that had to be parsed."""
    memo.new_pass()
    parsed = []
    for name in files:
        if memo.get(name) is None:
            parsed.append(name)
            memo.put(name, f"parsed {name}")
    return parsed


def test_a_repository_that_fits_is_parsed_once_then_only_what_changed() -> None:
    memo: PassMemo[str, str] = PassMemo(8)
    assert push(memo, ["a", "b", "c"]) == ["a", "b", "c"]
    assert push(memo, ["a", "b", "c"]) == []
    assert push(memo, ["a", "b2", "c"]) == ["b2"]
    assert push(memo, ["a", "b2", "c"]) == []


def test_a_repository_larger_than_the_memo_still_hits_as_many_files_as_fit() -> None:
    # An LRU memo of 4 over 6 files in the same order every push never hits.
    memo: PassMemo[str, str] = PassMemo(4)
    files = ["a", "b", "c", "d", "e", "f"]
    assert push(memo, files) == files
    for _ in range(3):
        assert push(memo, files) == ["e", "f"]
    assert push(memo, ["new", *files]) == ["new", "e", "f"]  # no cascade of misses
    assert len(memo) == 4


def test_old_versions_of_changed_files_make_room_after_a_while() -> None:
    memo: PassMemo[str, str] = PassMemo(4, keep_passes=2)
    push(memo, ["a", "b", "c", "d"])
    assert push(memo, ["a", "b", "c", "d2"]) == ["d2"]  # full: d2 waits for d to go
    assert push(memo, ["a", "b", "c", "d2"]) == ["d2"]
    assert push(memo, ["a", "b", "c", "d2"]) == ["d2"]  # d, unused by two pushes, made room
    assert memo.get("d") is None
    assert push(memo, ["a", "b", "c", "d2"]) == []


def test_small_requests_in_between_cost_the_repository_nothing() -> None:
    memo: PassMemo[str, str] = PassMemo(4)
    files = ["a", "b", "c", "d", "e"]
    push(memo, files)
    for request in range(5):
        assert push(memo, [f"ci-{request}"]) == [f"ci-{request}"]
    assert push(memo, files) == ["e"]


def test_clear_forgets_everything() -> None:
    memo: PassMemo[str, str] = PassMemo(4)
    push(memo, ["a", "b"])
    memo.clear()
    assert len(memo) == 0 and push(memo, ["a"]) == ["a"]


def test_recent_answers_keep_the_newest_few() -> None:
    answers: Recent[str, int] = Recent(2)
    answers.put("a", 1)
    answers.put("b", 2)
    assert answers.get("a") == 1  # asked again: the newest now
    answers.put("c", 3)
    assert (answers.get("a"), answers.get("b"), answers.get("c")) == (1, None, 3)


def test_an_instance_forgets_everything_at_once_and_a_one_run_process_keeps_no_files() -> None:
    caches = Caches()
    caches.specs.put(("blob id", "a.yaml", "default", "confirm"), "parsed")
    caches.strings.put("vm-1", "vm-1")
    caches.deliveries.put(("github", "id"), "answer")
    caches.clear()
    assert [len(getattr(caches, f)) for f in ("specs", "strings", "deliveries")] == [0, 0, 0]
    once = Caches.for_one_run()
    once.specs.put(("blob id", "a.yaml", "default", "confirm"), "parsed")
    once.vm_files.put("plan", b"file")
    once.vm_blobs.put("plan", "blob id")
    once.vm_plans.put("blob id", "plan")
    once.plan_caches.put("blob id", True)
    once.config_files.put("blob id", b".wukong.yaml")
    once.strings.put("vm-1", "vm-1")  # reused within the run
    later = ("specs", "vm_files", "vm_blobs", "vm_plans", "plan_caches", "config_files")
    assert [len(getattr(once, name)) for name in later] == [0] * len(later)
    assert len(once.strings) == 1


def test_a_new_pass_ages_every_repository_memo() -> None:
    caches = Caches()
    caches.tags.put("old", "tag:yaml.org,2002:str")
    for _ in range(caches.tags.keep_passes + 1):
        caches.new_pass()
    assert caches.tags.get("old") is None
