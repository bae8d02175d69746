"""Outbox consistency: idempotent apply, crash recovery, concurrent writers, rebuild swaps."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import threading
from pathlib import Path

import pytest
from search_corpus import DOCS, ENT_101, OPERATOR, expected_versions

from techfin.search import SearchEngine, SearchUnavailable


def need(i: int, version: str = "1", **extra: object) -> dict:
    return {
        "type": "need",
        "id": i,
        "ref": f"N{i}",
        "org_id": 900 + i % 3,
        "title": f"第{i}号融资需求 芯片封装",
        "body": f"编号{i}的需求，版本{version}，申请知识产权质押融资。",
        "visibility": "institutions",
        "status": "published",
        "amount": i * 1000,
        "date": "2024-07-01",
        "version": version,
        **extra,
    }


def upsert(seq: int, doc: dict) -> dict:
    return {"seq": seq, "op": "upsert", "type": doc["type"], "id": doc["id"], "doc": doc}


def delete(seq: int, doc_type: str, doc_id: int) -> dict:
    return {"seq": seq, "op": "delete", "type": doc_type, "id": doc_id, "doc": None}


def replay(changes: list[dict], base: list[dict]) -> dict[tuple[str, int], str]:
    """What the database holds after the changes: the expected index contents."""
    state = expected_versions(base)
    for c in sorted(changes, key=lambda c: c["seq"]):
        key = (c["type"], c["id"])
        if c["op"] == "delete" or c["doc"] is None or c["doc"].get("confidential"):
            state.pop(key, None)
        else:
            state[key] = c["doc"]["version"]
    return state


CLEAN = {"missing": [], "stale": [], "extra": []}


def test_apply_is_idempotent_and_never_goes_back(fresh: SearchEngine) -> None:
    changes = [
        upsert(1, need(10)),
        upsert(2, need(11)),
        upsert(3, need(10, "2")),
        delete(4, "product", 2),
    ]
    assert fresh.apply(changes, 4) == 4
    assert fresh.check(replay(changes, DOCS)) == CLEAN
    assert fresh.apply(changes, 4) == 4  # the same batch again: harmless
    assert fresh.apply(changes[:2], 2) == 4  # an older, slower worker: skipped
    assert fresh.check(replay(changes, DOCS)) == CLEAN
    assert fresh.applied_seq() == 4
    assert fresh.search("编号10", OPERATOR)["items"][0]["highlight"].count("版本2") == 1


def test_last_change_per_key_wins_within_a_batch(fresh: SearchEngine) -> None:
    changes = [
        upsert(1, need(20, "1")),
        upsert(2, need(20, "2")),
        delete(3, "need", 20),
        upsert(4, need(21, "1")),
        delete(5, "need", 21),
        upsert(6, need(21, "3")),
    ]
    fresh.apply(changes, 6)
    assert fresh.check(replay(changes, DOCS)) == CLEAN
    assert fresh.search("编号21", OPERATOR)["total"] == 1
    assert fresh.search("编号20", OPERATOR)["total"] == 0


def test_upsert_marked_confidential_removes_the_indexed_copy(fresh: SearchEngine) -> None:
    fresh.apply([upsert(1, need(30))], 1)
    assert fresh.search("编号30", OPERATOR)["total"] == 1
    fresh.apply([upsert(2, need(30, "2", confidential=True))], 2)
    assert fresh.search("编号30", OPERATOR)["total"] == 0


def test_apply_is_visible_to_the_next_search(fresh: SearchEngine) -> None:
    assert fresh.search("编号40", OPERATOR)["total"] == 0
    fresh.apply([upsert(1, need(40))], 1)
    assert fresh.search("编号40", OPERATOR)["total"] == 1
    assert fresh.search("编号40", ENT_101)["total"] == 0  # institutions-only need


def _apply_then_die(index_dir: str, changes: list[dict], upto: int) -> None:
    from whoosh.writing import SegmentWriter

    def killed(self: object, *args: object, **kwargs: object) -> None:
        os._exit(3)  # like a gunicorn hard timeout: no cleanup, no commit

    SegmentWriter.commit = killed  # type: ignore[method-assign]
    SearchEngine(index_dir).apply(changes, upto)


def test_crash_between_db_commit_and_index_write(fresh: SearchEngine) -> None:
    outbox = [
        upsert(1, need(50)),
        upsert(2, need(51)),
        upsert(3, need(50, "2")),
        delete(4, "enterprise", 1),
        upsert(5, need(52)),
        upsert(6, need(51, "2")),
    ]
    fresh.apply(outbox[:3], 3)
    # The database committed 4..6; the worker applying them dies inside the index write.
    proc = multiprocessing.get_context("fork").Process(
        target=_apply_then_die, args=(str(fresh.root), outbox[3:], 6)
    )
    proc.start()
    proc.join(60)
    assert proc.exitcode == 3
    assert fresh.applied_seq() == 3
    drift = fresh.check(replay(outbox, DOCS))
    assert drift["missing"] == [("need", 52)]
    assert drift["stale"] == [("need", 51)]
    assert drift["extra"] == [("enterprise", 1)]
    # Recovery: replay the outbox from the index's stored position (lock was released).
    pending = [c for c in outbox if c["seq"] > fresh.applied_seq()]
    assert fresh.apply(pending, 6) == 6
    assert fresh.check(replay(outbox, DOCS)) == CLEAN


OUTBOX_200 = [upsert(i, need(1000 + i % 150, str(i))) for i in range(1, 201)]


def _worker(index_dir: str, step: int) -> None:
    eng = SearchEngine(index_dir, writer_timeout=60)
    for upto in range(step, 201, step):
        pos = eng.applied_seq()
        eng.apply([c for c in OUTBOX_200 if pos < c["seq"] <= upto], upto)
    eng.apply([c for c in OUTBOX_200 if c["seq"] > eng.applied_seq()], 200)


def test_two_processes_applying_concurrently_lose_nothing(fresh: SearchEngine) -> None:
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_worker, args=(str(fresh.root), s)) for s in (3, 7)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0, 0]
    assert fresh.applied_seq() == 200
    assert fresh.check(replay(OUTBOX_200, DOCS)) == CLEAN
    assert fresh.search("芯片封装", OPERATOR, type="need")["total"] == 150


def test_readers_keep_working_while_a_writer_commits(fresh: SearchEngine) -> None:
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            try:
                assert fresh.search("芯片", OPERATOR)["total"] >= 3
            except BaseException as exc:  # noqa: BLE001 - collected and re-raised below
                errors.append(exc)
                return

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for seq in range(1, 21):
        fresh.apply([upsert(seq, need(seq))], seq)
    stop.set()
    for t in threads:
        t.join()
    assert errors == []
    assert fresh.search("芯片封装", OPERATOR)["total"] == 20


def corpus(n: int) -> list[dict]:
    return [need(i, "r") for i in range(1, n + 1)]


def test_rebuild_swaps_atomically_while_searching(fresh: SearchEngine) -> None:
    errors: list[BaseException] = []
    totals: list[int] = []
    stop = threading.Event()

    def reader() -> None:
        eng = SearchEngine(fresh.root)  # another "worker" of the same index
        while not stop.is_set():
            try:
                totals.append(eng.search("融资", OPERATOR)["total"])
            except BaseException as exc:  # noqa: BLE001 - collected and re-raised below
                errors.append(exc)
                return

    thread = threading.Thread(target=reader)
    thread.start()
    progress: list[tuple[int, int | None]] = []
    docs = corpus(2500)
    fresh.build_pass_docs = 1000  # three multiprocess passes, six segments
    stats = fresh.rebuild(docs, upto_seq=77, progress=lambda d, t: progress.append((d, t)))
    for _ in range(20):
        fresh.search("融资", OPERATOR)
    stop.set()
    thread.join()
    assert errors == []
    assert stats["docs"] == 2500
    assert progress[-1] == (2500, 2500)
    before = fresh_total = 0
    before = totals[0]
    fresh_total = fresh.search("融资", OPERATOR)["total"]
    assert before < fresh_total == 2500
    assert set(totals) <= {before, fresh_total}  # never a half-built index
    assert fresh.applied_seq() == 77
    assert len([p for p in fresh.root.iterdir() if p.name.startswith("gen-")]) == 1
    assert fresh.check({("need", i): "r" for i in range(1, 2501)}) == CLEAN


@pytest.mark.parametrize("moment", ["after it read CURRENT", "before it opens the index"])
def test_reader_follows_a_swap_that_lands_while_it_opens(
    fresh: SearchEngine, monkeypatch: pytest.MonkeyPatch, moment: str
) -> None:
    """The race CI once hit: CURRENT read, then a rebuild swaps and deletes that generation."""
    from techfin.search import engine as engine_module

    reader = SearchEngine(fresh.root)
    old_gen = (fresh.root / "CURRENT").read_text(encoding="utf-8").strip()
    swapped: list[bool] = []

    def swap_once() -> None:
        if not swapped:
            swapped.append(True)
            fresh.rebuild(corpus(40), upto_seq=3)  # the old generation is gone on return

    if moment == "after it read CURRENT":
        real_read_text = Path.read_text

        def read_then_swap(self: Path, *args: object, **kwargs: object) -> str:
            text = real_read_text(self, *args, **kwargs)
            if self.name == "CURRENT":
                swap_once()
            return text

        monkeypatch.setattr(Path, "read_text", read_then_swap)
    else:
        real_open = engine_module._open_index

        def swap_then_open(path: Path) -> object:
            swap_once()
            return real_open(path)

        monkeypatch.setattr(engine_module, "_open_index", swap_then_open)
    assert reader.search("融资", OPERATOR)["total"] == 40
    assert swapped and not (fresh.root / old_gen).exists()


def test_a_generation_that_stays_missing_is_still_unavailable(fresh: SearchEngine) -> None:
    (fresh.root / "CURRENT").write_text("gen-never-built\n", encoding="utf-8")
    with pytest.raises(SearchUnavailable, match="gen-never-built"):
        SearchEngine(fresh.root).search("融资", OPERATOR)


def test_rebuild_skips_duplicates_and_confidential(tmp_path: Path) -> None:
    eng = SearchEngine(tmp_path / "ix")
    stats = eng.rebuild(DOCS + DOCS[:2], upto_seq=5)
    assert stats["docs"] == len(expected_versions(DOCS))
    assert stats["skipped"] == 3
    assert eng.check(expected_versions(DOCS)) == CLEAN


def test_missing_index_is_unavailable_until_rebuilt(tmp_path: Path) -> None:
    eng = SearchEngine(tmp_path / "nothing-here")
    assert not eng.available()
    for call in (
        lambda: eng.search("芯片", OPERATOR),
        eng.applied_seq,
        eng.doc_count,
        lambda: eng.check({}),
        lambda: eng.apply([upsert(1, need(1))], 1),
    ):
        with pytest.raises(SearchUnavailable):
            call()
    eng.rebuild(DOCS, upto_seq=0)
    assert eng.search("芯片", OPERATOR)["total"] == 3


def test_deleted_index_dir_then_rebuild(fresh: SearchEngine) -> None:
    assert fresh.search("芯片", OPERATOR)["total"] == 3  # a snapshot is cached
    shutil.rmtree(fresh.root)
    with pytest.raises(SearchUnavailable):
        fresh.search("芯片", OPERATOR)
    fresh.rebuild(DOCS, upto_seq=9)
    assert fresh.search("芯片", OPERATOR)["total"] == 3
    assert fresh.applied_seq() == 9


@pytest.mark.parametrize("damage", ["garbage", "truncate", "delete-toc", "bad-pointer"])
def test_corrupt_index_is_unavailable_until_rebuilt(fresh: SearchEngine, damage: str) -> None:
    assert fresh.search("芯片", OPERATOR)["total"] == 3
    gen = fresh.root / (fresh.root / "CURRENT").read_text().strip()
    for f in gen.iterdir():
        if damage == "garbage":
            f.write_bytes(os.urandom(64))
        elif damage == "truncate" and f.stat().st_size > 8:
            f.write_bytes(f.read_bytes()[:8])
        elif damage == "delete-toc" and f.name.endswith(".toc"):
            f.unlink()
    if damage == "bad-pointer":
        (fresh.root / "CURRENT").write_text("../../etc\n")
    for eng in (fresh, SearchEngine(fresh.root)):
        with pytest.raises(SearchUnavailable):
            eng.search("芯片", OPERATOR)
            eng.search("芯片 融资", OPERATOR)
            eng.check({})
    fresh.rebuild(DOCS, upto_seq=0)
    assert SearchEngine(fresh.root).search("芯片", OPERATOR)["total"] == 3
    assert fresh.check(expected_versions(DOCS)) == CLEAN


# ---------------------------------------------------------------- damage of the right length


def _segment_files(eng: SearchEngine) -> list[Path]:
    gen = eng.root / (eng.root / "CURRENT").read_text(encoding="utf-8").strip()
    return sorted(gen.glob("*.seg"))


def _overwrite_same_length(path: Path) -> None:
    size = path.stat().st_size
    path.write_bytes(os.urandom(size))


def test_same_length_garbage_is_refused_by_a_reader_that_cached_the_segment(
    fresh: SearchEngine,
) -> None:
    assert fresh.search("芯片", OPERATOR)["total"] == 3  # arrays and postings now cached
    files = _segment_files(fresh)
    assert files
    for path in files:
        _overwrite_same_length(path)
    with pytest.raises(SearchUnavailable, match="damaged"):
        fresh.search("芯片", OPERATOR)
    with pytest.raises(SearchUnavailable):
        SearchEngine(fresh.root).search("芯片", OPERATOR)  # a worker opening it afresh
    assert not fresh.available()
    fresh.rebuild(DOCS, upto_seq=0)
    assert fresh.search("芯片", OPERATOR)["total"] == 3


def test_a_touched_but_intact_segment_is_still_trusted(fresh: SearchEngine) -> None:
    fresh.search("芯片", OPERATOR)
    for path in _segment_files(fresh):
        os.utime(path, ns=(1, 1))  # as a backup restore that keeps the bytes would
    assert fresh.search("芯片", OPERATOR)["total"] == 3


@pytest.mark.parametrize("how", ["apply", "multiprocess rebuild", "multiprocess rebuild, merged"])
def test_every_committed_segment_carries_a_digest(fresh: SearchEngine, how: str) -> None:
    from techfin.search import engine as engine_module

    if how == "apply":
        for seq in range(1, 4):
            fresh.apply([upsert(seq, need(seq))], seq)
    else:
        fresh.build_pass_docs = 1000
        fresh.merge_after_build = how == "multiprocess rebuild, merged"
        fresh.rebuild(corpus(2500), upto_seq=1)
    ix = engine_module._open_index(fresh.root / (fresh.root / "CURRENT").read_text().strip())
    segments = ix._segments()
    assert len(segments) == 1 if fresh.merge_after_build and how != "apply" else len(segments) >= 2
    for segment in segments:
        assert segment.is_compound()
        path = Path(ix.storage.folder) / segment.make_filename(segment.COMPOUND_EXT)
        assert segment.digest == engine_module._file_digest(path)


def _segments(eng: SearchEngine) -> list[int]:
    """Document counts of the current generation's segments."""
    from whoosh import index as whoosh_index

    gen = (eng.root / "CURRENT").read_text(encoding="utf-8").strip()
    ix = whoosh_index.open_dir(str(eng.root / gen))
    try:
        return sorted(seg.doc_count_all() for seg in ix._segments())
    finally:
        ix.close()


def test_a_write_in_a_request_never_merges_the_index_s_big_segments(tmp_path: Path) -> None:
    """At 100 000 enterprises a request's sync merged a rebuilt index's segments (tens of
    MB, over gunicorn's 30 s): a request only merges tiny segments, a background sync may
    merge anything."""
    from techfin.search.engine import TINY_SEGMENT_DOCS, TINY_SEGMENTS

    eng = SearchEngine(tmp_path / "ix", writer_timeout=20)
    # Eight passes of two processes: up to sixteen segments of 256 documents (a pass one
    # process took alone on a busy machine makes one of 512), enough for Whoosh's
    # MERGE_SMALL to merge most of them at the next commit (a region's rebuild left 24 of
    # about 20 000 documents, and the first write merged them all).
    eng.build_pass_docs = 512
    eng.merge_after_build = False  # an index that accumulated segments since its rebuild
    eng.rebuild(corpus(4096), upto_seq=0)
    big = [n for n in _segments(eng) if n > TINY_SEGMENT_DOCS]
    assert len(big) >= 8
    seq = 0
    for i in range(1, 3 * TINY_SEGMENTS):  # one request, one change, one new segment
        seq += 1
        eng.apply([upsert(seq, need(i, version=f"v{seq}"))], seq)
        now = _segments(eng)
        kept = [n for n in now if n > TINY_SEGMENT_DOCS]
        assert kept == big, "a request merged a big segment"
        assert len(now) - len(kept) < TINY_SEGMENTS + 1  # the tiny ones are folded together
    assert eng.search("融资", OPERATOR)["total"] == 4096
    before = _segments(eng)
    seq += 1
    eng.apply([upsert(seq, need(1, version="last"))], seq, background=True)
    assert len(_segments(eng)) < len(before)  # Whoosh's own policy ran, in the background
    assert eng.search("融资", OPERATOR)["total"] == 4096


def test_a_rebuild_is_born_as_one_segment_and_compact_merges_what_accumulates(
    tmp_path: Path,
) -> None:
    """Every write and every reopened snapshot opens each segment (about 0.5 ms each): a
    region's rebuild left 23, so the rebuild merges them before the swap, and compact()
    (the scheduled check) merges what writes add, keeping every document findable."""
    eng = SearchEngine(tmp_path / "ix", writer_timeout=20)
    eng.build_pass_docs = 1000
    told: list[int] = []
    stats = eng.rebuild(corpus(2500), upto_seq=3, merging=told.append)
    assert told and told[0] >= 3 and stats["segments"] == told[0]
    assert _segments(eng) == [2501] and eng.segment_count() == 1  # 2 500 and the position
    assert eng.search("融资", OPERATOR)["total"] == 2500 and eng.applied_seq() == 3
    seq = 3
    for i in range(1, 6):  # five writes, five new segments
        seq += 1
        eng.apply([upsert(seq, need(i, version=f"v{seq}"))], seq)
    assert eng.segment_count() == 6
    assert eng.compact(at_least=7) == {"before": 6, "after": 6}  # not yet worth it
    # The writes' five merge into one beside the rebuilt segment, which is not rewritten.
    assert eng.compact(at_least=6) == {"before": 6, "after": 2}
    assert _segments(eng) == [
        6,
        2501,
    ]  # five needs and the position; the big one keeps its deletions
    expected = {("need", i): ("v" + str(i + 3) if i <= 5 else "r") for i in range(1, 2501)}
    assert eng.search("融资", OPERATOR)["total"] == 2500 and eng.applied_seq() == seq
    assert eng.check(expected) == CLEAN
    assert eng.compact(at_least=2) == {"before": 2, "after": 2}  # one small one: nothing to do
    seq += 1
    eng.apply([upsert(seq, need(7, version=f"v{seq}"))], seq)
    # A web node's upkeep stays within max_docs: 6 + 2 documents (the need and the position)
    # to rewrite, or every document with everything.
    assert eng.compact(at_least=3, max_docs=7) == {"before": 3, "after": 3}
    assert eng.compact(at_least=3, max_docs=100, everything=True) == {"before": 3, "after": 3}
    assert eng.compact(at_least=3, max_docs=8) == {"before": 3, "after": 2}
    expected[("need", 7)] = f"v{seq}"
    assert eng.compact(at_least=2, everything=True) == {"before": 2, "after": 1}
    assert eng.search("融资", OPERATOR)["total"] == 2500 and eng.check(expected) == CLEAN


def test_compact_merges_everything_when_no_segment_holds_half(tmp_path: Path) -> None:
    eng = SearchEngine(tmp_path / "ix", writer_timeout=20, merge_after_build=False)
    eng.build_pass_docs = 1000
    eng.rebuild(corpus(2500), upto_seq=1)
    before = _segments(eng)
    assert len(before) >= 3 and 2 * max(before) < sum(before)
    assert eng.compact(at_least=3) == {"before": len(before), "after": 1}
    assert _segments(eng) == [sum(before)]
    assert eng.search("融资", OPERATOR)["total"] == 2500


def test_a_segment_s_metadata_is_read_in_chunks_to_the_same_arrays(
    fresh: SearchEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rebuilt region index is one segment of 431 000 documents; parsing its metadata at
    once peaked at 400 MB that a web worker kept. Chunks give the very same arrays."""
    import numpy as np

    from techfin.search import engine as engine_module

    snap = fresh._acquire()
    try:
        leaf = max(snap.leaves, key=lambda lf: lf.data.size)
        whole = engine_module._SegmentData(leaf.reader)
        monkeypatch.setattr(engine_module, "_META_CHUNK", 7)
        chunked = engine_module._SegmentData(leaf.reader)
    finally:
        fresh._release(snap)
    assert whole.size == chunked.size > 7
    for name in ("id", "vis", "org", "amount", "date", "rvis", "length"):
        np.testing.assert_array_equal(getattr(whole, name), getattr(chunked, name))
    assert whole.version == chunked.version
    assert whole.facets.keys() == chunked.facets.keys()
    for name, coded in whole.facets.items():
        assert coded.values == chunked.facets[name].values, name
        np.testing.assert_array_equal(coded.codes, chunked.facets[name].codes)
    assert whole.restricted.keys() == chunked.restricted.keys()
    for name, flags in whole.restricted.items():
        np.testing.assert_array_equal(flags, chunked.restricted[name])
