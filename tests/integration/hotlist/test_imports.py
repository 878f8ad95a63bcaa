"""Hot-list imports over the API: what loads, what is refused and why, merging across sources, and full refreshes
that remove what a source no longer lists without a moment of missed or false matches."""

from __future__ import annotations

from importlib import resources
from typing import Any

import pytest
from support import AlertSocket, read

SAMPLES = resources.files("server.hotlist") / "samples"


def ncic_line(typ: str, plate: str, state: str = "AK", nic: str | None = None, entered: str = "20260105",
              expires: str = "", off: str = "", name: str = "") -> str:
    """One record of the NCIC-style fixed-width layout (server/hotlist/formats/README.md)."""
    nic = nic or f"{typ[0]}{sum(map(ord, plate)) * 7919 % 10**9:09d}"
    return (f"{typ:<4}{plate:<10}{state:<2}{'2026':<4}{'2018':<4}{'TOYT':<4}{'CAM':<3}{'BLK':<7}{'4D':<2}{nic:<10}"
            f"{entered:<8}{expires:<8}{off:<4}{name:<30}").rstrip() + "\n"


def ncic_file(*lines: str) -> bytes:
    return "".join(lines).encode()


async def upload(client, body: bytes, source: str = "NCIC", fmt: str = "ncic", replace: bool = False,
                 ) -> Any:  # noqa: ANN001
    return await client.post("/api/v1/hotlist/imports", content=body,
                             params={"source": source, "format": fmt, "replace": str(replace).lower()},
                             headers={"Content-Type": "application/octet-stream"})


async def imported(client, body: bytes, **kw: Any) -> dict[str, Any]:  # noqa: ANN001
    resp = await upload(client, body, **kw)
    assert resp.status_code == 201, resp.text
    return resp.json()


async def entries(client, plate: str) -> list[dict[str, Any]]:  # noqa: ANN001
    resp = await client.get("/api/v1/hotlist/entries", params={"plate": plate})
    assert resp.status_code == 200, resp.text
    return resp.json()["entries"]


async def hits_for(world, plate: str, state: str | None = "AK") -> list[dict[str, Any]]:  # noqa: ANN001
    resp = await world.camera.post("/api/v1/detections", json=read(plate, state))
    assert resp.status_code == 201, resp.text
    return resp.json()["hits"]


async def test_ncic_sample_loads_with_a_summary_of_every_line(world) -> None:
    """The NCIC sample imports: records loaded, refused list types counted by code, junk skipped, bad lines listed
    with their line numbers, and an imported plate raises a hit at once."""
    body = (SAMPLES / "ncic-sample.txt").read_bytes()
    summary = await imported(world.rtcc.client, body)
    assert summary["status"] == "succeeded" and summary["source"] == "NCIC"
    assert summary["imported"] > 0
    assert summary["refused"], "the sample holds refused list types (IV, GM ...)"
    assert all(n > 0 for n in summary["refused"].values())
    assert summary["bad"] == len(summary["errors"]) > 0
    assert all(e["line"] >= 1 and e["detail"] for e in summary["errors"])
    assert summary["lines"] == (summary["imported"] + summary["merged"] + summary["skipped"] + summary["expired"]
                                + summary["bad"] + sum(summary["refused"].values()))
    hits = await hits_for(world, "SMP1001")
    assert [h["match_kind"] for h in hits] == ["exact"]
    (entry,) = await entries(world.rtcc.client, "SMP1001")
    assert [li["source"] for li in entry["listings"]] == ["NCIC"]
    assert entry["listings"][0]["case_number"] == "V260000101"


@pytest.mark.parametrize("fmt,source,sample", [("csv", "RMS", "csv-sample.csv"),
                                               ("apsin", "APSIN", "apsin-sample.txt")])
async def test_csv_and_apsin_samples_load(world, fmt: str, source: str, sample: str) -> None:
    """The CSV and APSIN samples import through the same call, with the same kind of summary."""
    summary = await imported(world.rtcc.client, (SAMPLES / sample).read_bytes(), source=source, fmt=fmt)
    assert summary["status"] == "succeeded" and summary["format"] == fmt
    assert summary["imported"] > 0 and summary["bad"] == len(summary["errors"])


async def test_refused_list_type_is_never_matched(world) -> None:
    """An immigration-violator record (no place in policy II) is refused and counted; its plate raises no hit."""
    summary = await imported(world.rtcc.client, ncic_file(ncic_line("IV", "IMM1234"), ncic_line("V", "STL1234")))
    assert summary["refused"] == {"IV": 1} and summary["imported"] == 1
    assert await hits_for(world, "IMM1234") == []
    assert await entries(world.rtcc.client, "IMM1234") == []


async def test_junk_plates_are_skipped(world) -> None:
    """Placeholder plates ("UNKNOWN", "000", "NOTAG") are skipped, so a car read as "000" raises nothing."""
    summary = await imported(world.rtcc.client, ncic_file(ncic_line("V", "UNKNOWN"), ncic_line("V", "000"),
                                                          ncic_line("V", "NO TAG"), ncic_line("V", "REAL123")))
    assert summary["skipped"] == 3 and summary["imported"] == 1
    assert await hits_for(world, "000") == []


async def test_same_vehicle_from_two_sources_is_one_entry_with_both(world) -> None:
    """A plate listed by NCIC and by APSIN is one entry keeping both sources' records, and one read raises one hit."""
    await imported(world.rtcc.client, ncic_file(ncic_line("V", "DUP1234", nic="V260000777")))
    apsin = (b"REC_TYPE|AGENCY|CASE_NO|PLATE|PLATE_ST|PLATE_YR|VEH_YR|VEH_MAKE|VEH_MODEL|VEH_COLOR|VEH_STYLE|ENTERED|"
             b"EXPIRES|SUBJECT\nSV|APD|26-000777|DUP-1234|AK|2026|2018|TOYT|CAM|BLK|4D|01/05/2026||\n")
    summary = await imported(world.rtcc.client, apsin, source="APSIN", fmt="apsin")
    assert summary["merged"] == 1 and summary["imported"] == 0
    (entry,) = await entries(world.rtcc.client, "DUP1234")
    assert sorted((li["source"], li["case_number"]) for li in entry["listings"]) == [("APSIN", "26-000777"),
                                                                                    ("NCIC", "V260000777")]
    assert len(await hits_for(world, "DUP1234")) == 1


async def test_repeated_import_changes_nothing(world) -> None:
    """Importing the same file twice leaves one entry per vehicle: the second run reports them unchanged."""
    body = ncic_file(ncic_line("V", "AAA1111", nic="V000000001"), ncic_line("LP", "BBB2222", nic="L000000002"))
    first = await imported(world.rtcc.client, body)
    second = await imported(world.rtcc.client, body, replace=True)
    assert (first["imported"], second["imported"], second["unchanged"], second["removed"]) == (2, 0, 2, 0)
    assert len(await entries(world.rtcc.client, "AAA1111")) == 1


async def test_refresh_tells_an_unchanged_expiry_from_a_changed_one(world) -> None:
    """A refresh that sends a record's expiry again reports it unchanged; one that moves the expiry reports it updated
    and the entry expires with the new date (12:00 UTC the next day: server/hotlist/formats/README.md)."""
    body = ncic_file(ncic_line("V", "EXP1111", nic="V000000011", expires="20991231"),
                     ncic_line("V", "EXP2222", nic="V000000012", expires="20991231"))
    await imported(world.rtcc.client, body, replace=True)
    moved = ncic_file(ncic_line("V", "EXP1111", nic="V000000011", expires="20991231"),
                      ncic_line("V", "EXP2222", nic="V000000012", expires="21000115"))
    summary = await imported(world.rtcc.client, moved, replace=True)
    assert (summary["imported"], summary["unchanged"], summary["updated"], summary["removed"]) == (0, 1, 1, 0)
    (entry,) = await entries(world.rtcc.client, "EXP2222")
    assert entry["expires_at"].startswith("2100-01-16T12:00:00")


async def test_full_refresh_replaces_the_sources_list(world) -> None:
    """A full refresh adds new plates, removes those the source no longer lists (no hit on them from then on),
    and leaves plates on both lists as the same entry, matching throughout."""
    old = ncic_file(ncic_line("V", "KEEP111", nic="V000000001"), ncic_line("V", "GONE222", nic="V000000002"))
    await imported(world.rtcc.client, old, replace=True)
    (kept_before,) = await entries(world.rtcc.client, "KEEP111")
    new = ncic_file(ncic_line("V", "KEEP111", nic="V000000001"), ncic_line("V", "NEW3333", nic="V000000003"))
    summary = await imported(world.rtcc.client, new, replace=True)
    assert (summary["imported"], summary["unchanged"], summary["delisted"], summary["removed"]) == (1, 1, 1, 1)
    assert await hits_for(world, "GONE222") == []
    assert [h["match_kind"] for h in await hits_for(world, "NEW3333")] == ["exact"]
    (kept_after,) = await entries(world.rtcc.client, "KEEP111")
    assert kept_after["id"] == kept_before["id"]
    (gone,) = (await world.rtcc.client.get("/api/v1/hotlist/entries",
                                           params={"plate": "GONE222", "include_removed": "true"})).json()["entries"]
    assert gone["removed_at"] is not None and "no longer listed by NCIC" in gone["removed_reason"]


async def test_refresh_of_one_source_keeps_what_others_list(world) -> None:
    """A full NCIC refresh without a plate keeps its entry while APSIN or an analyst still lists it."""
    await imported(world.rtcc.client, ncic_file(ncic_line("V", "BOTH123", nic="V000000001"), ncic_line("V", "MAN4567",
                                                                                                nic="V000000002")))
    apsin = (b"REC_TYPE|AGENCY|CASE_NO|PLATE|PLATE_ST|PLATE_YR|VEH_YR|VEH_MAKE|VEH_MODEL|VEH_COLOR|VEH_STYLE|ENTERED|"
             b"EXPIRES|SUBJECT\nSV|APD|26-000001|BOTH123|AK|2026|2018|TOYT|CAM|BLK|4D|01/05/2026||\n")
    await imported(world.rtcc.client, apsin, source="APSIN", fmt="apsin")
    await world.add_entry("MAN4567", source="NCIC")  # an analyst's own entry of the same plate
    summary = await imported(world.rtcc.client, ncic_file(ncic_line("V", "OTHER99", nic="V000000003")), replace=True)
    assert summary["delisted"] == 2 and summary["removed"] == 1  # MAN4567's imported entry goes, not the analyst's
    (both,) = await entries(world.rtcc.client, "BOTH123")
    assert [li["source"] for li in both["listings"]] == ["APSIN"]
    assert len(await hits_for(world, "BOTH123")) == 1
    assert len(await hits_for(world, "MAN4567")) == 1


async def test_open_hit_on_a_refreshed_away_plate_is_withdrawn_and_pushed(world) -> None:
    """A refresh that drops a plate with an open hit closes the hit as no longer wanted and tells the unit."""
    await imported(world.rtcc.client, ncic_file(ncic_line("V", "HIT1234", nic="V000000001")), replace=True)
    async with AlertSocket.connect(world.server, world.officer.token) as sock:
        (hit,) = await hits_for(world, "HIT1234")
        assert (await sock.next())["type"] == "hit"
        await imported(world.rtcc.client, ncic_file(ncic_line("V", "ZZZ9999", nic="V000000002")), replace=True)
        update = await sock.next()
        assert update["type"] == "hit_update" and update["hit"]["id"] == hit["id"]
        assert update["hit"]["outcome"] == "no_longer_wanted"


async def test_expired_records_are_counted_not_loaded(world) -> None:
    """A record whose expiry has passed is counted as expired and never matches."""
    summary = await imported(world.rtcc.client, ncic_file(ncic_line("V", "OLD1234", expires="20200101"),
                                                          ncic_line("V", "NEW1234", expires="20991231")))
    assert (summary["expired"], summary["imported"]) == (1, 1)
    assert await hits_for(world, "OLD1234") == []
    assert len(await hits_for(world, "NEW1234")) == 1


async def test_sources_show_the_last_good_refresh(world) -> None:
    """After a full refresh the source shows its entries and the time of that refresh, and is not stale; a source
    never imported shows none and is not flagged."""
    await imported(world.rtcc.client, ncic_file(ncic_line("V", "SRC1234")), replace=True)
    resp = await world.officer.client.get("/api/v1/hotlist/sources")
    assert resp.status_code == 200, resp.text
    by = {s["source"]: s for s in resp.json()["sources"]}
    assert by["NCIC"]["entries"] == 1 and by["NCIC"]["last_refresh_at"] is not None and not by["NCIC"]["stale"]
    assert by["NCIC"]["last_import"]["status"] == "succeeded"
    assert by["AMBER"]["last_refresh_at"] is None and not by["AMBER"]["stale"]


async def test_an_add_only_import_does_not_count_as_a_refresh(world) -> None:
    """A source fed only add-only imports has no good full refresh: it is flagged stale."""
    await imported(world.rtcc.client, ncic_file(ncic_line("V", "ADD1234")))
    by = {s["source"]: s for s in (await world.rtcc.client.get("/api/v1/hotlist/sources")).json()["sources"]}
    assert by["NCIC"]["last_refresh_at"] is None and by["NCIC"]["stale"]


async def test_import_history_and_one_import(world) -> None:
    """Each import is kept: listed newest first, and readable by id with its bad lines."""
    first = await imported(world.rtcc.client, ncic_file(ncic_line("V", "HIS1234")))
    second = await imported(world.rtcc.client, ncic_file(ncic_line("V", "ABCDEFGHJK")))
    listed = (await world.rtcc.client.get("/api/v1/hotlist/imports")).json()["imports"]
    assert [i["id"] for i in listed] == [second["id"], first["id"]]
    one = (await world.rtcc.client.get(f"/api/v1/hotlist/imports/{second['id']}")).json()
    assert one["bad"] == 1 and one["errors"][0]["line"] == 1
    assert (await world.rtcc.client.get("/api/v1/hotlist/imports/999999")).status_code == 404


BAD_REQUESTS = [
    ("unknown source", {"source": "FACEBOOK", "format": "ncic"}, 400),
    ("unknown format", {"source": "NCIC", "format": "xlsx"}, 400),
    ("no source", {"format": "ncic"}, 400),
]


@pytest.mark.parametrize(("case", "params", "status"), BAD_REQUESTS, ids=[c[0] for c in BAD_REQUESTS])
async def test_bad_import_request_is_refused_with_a_reason(world, case: str, params: dict[str, str],
                                                           status: int) -> None:
    """An import naming no known source or format is refused with a 4xx that says which, and records nothing."""
    resp = await world.rtcc.client.post("/api/v1/hotlist/imports", content=ncic_line("V", "X1").encode(),
                                        params=params)
    assert resp.status_code in (status, 422), resp.text
    assert resp.json()["detail"]
    assert (await world.rtcc.client.get("/api/v1/hotlist/imports")).json()["imports"] == []


async def test_empty_body_is_422(world) -> None:
    """An import without a file is a 422 saying so."""
    resp = await upload(world.rtcc.client, b"")
    assert resp.status_code == 422 and "body" in resp.json()["detail"]


async def test_officer_may_not_import(world) -> None:
    """Only the RTCC, supervisors and the chief change the hot list: an officer's import is 403."""
    resp = await upload(world.officer.client, ncic_file(ncic_line("V", "OFF1234")))
    assert resp.status_code == 403
    assert await entries(world.rtcc.client, "OFF1234") == []


async def test_second_import_of_a_source_waits_its_turn(world) -> None:
    """While an import of a source runs, another of the same source is 409 and changes nothing."""
    lock = world.server.resources.redis.lock("alpr:hl:import:NCIC", timeout=30)
    assert await lock.acquire()
    try:
        resp = await upload(world.rtcc.client, ncic_file(ncic_line("V", "WAIT123")))
        assert resp.status_code == 409 and resp.json()["error"] == "import_running"
    finally:
        await lock.release()
    assert await entries(world.rtcc.client, "WAIT123") == []
    assert (await upload(world.rtcc.client, ncic_file(ncic_line("V", "WAIT123")))).status_code == 201


async def test_index_entry_the_database_does_not_list_raises_no_hit(world) -> None:
    """An index entry with no committed database row (an import not yet committed, or rolled back) raises no hit."""
    from server.hotlist.index import IndexedEntry

    index = world.server.resources.index
    await index.put_many([IndexedEntry(987654, "GHOST12", "AK", "stolen_vehicle", "NCIC", "V9", 4, None, None,
                                       None, None, None, None, None)])
    assert await hits_for(world, "GHOST12") == []


async def test_import_is_in_the_audit_trail(world) -> None:
    """Each import is an audited hot-list change: who, which source and file type, and what it did."""
    summary = await imported(world.rtcc.client, ncic_file(ncic_line("V", "AUD1234"), ncic_line("IV", "AUD9999")))
    resp = await world.admin.client.get("/api/v1/audit", params={"action": "hotlist_import"})
    assert resp.status_code == 200, resp.text
    (event,) = resp.json()["events"]
    assert event["actor_name"] == "rtcc1" and event["subject"] == f"hotlist_import:{summary['id']}"
    assert event["details"]["imported"] == 1 and event["details"]["refused"] == {"IV": 1}


async def test_records_of_one_vehicle_in_different_slices_make_one_entry(world, monkeypatch) -> None:
    """A file read a few lines at a time: a vehicle listed again further on is one entry whose expiry (database and
    match index) is its listings' latest, and every entry of every slice raises its own hit."""
    from server.hotlist.index import _decode
    from server.hotlist.matching import ocr_key

    monkeypatch.setattr("server.hotlist.imports.LINES_PER_SLICE", 2)
    monkeypatch.setattr("server.hotlist.imports.PACK_SLICE", 1)
    fillers = [f"FIL{n:04d}" for n in range(5)]
    body = ncic_file(ncic_line("V", "MRG1234", nic="V000000001", expires="20991231"),
                     *(ncic_line("V", plate) for plate in fillers),
                     ncic_line("V", "MRG1234", nic="V000000002"))
    summary = await imported(world.rtcc.client, body)
    assert (summary["imported"], summary["merged"]) == (6, 1)
    (entry,) = await entries(world.rtcc.client, "MRG1234")
    assert sorted(li["case_number"] for li in entry["listings"]) == ["V000000001", "V000000002"]
    assert entry["expires_at"] is None, "one listing has no expiry, so the entry has none"
    docs = (await world.server.resources.index.lookup([ocr_key("MRG1234")]))[ocr_key("MRG1234")]
    assert [(_decode(doc).id, _decode(doc).expires_at) for doc in docs.split(b"\n")] == [(entry["id"], None)]
    for plate in ["MRG1234", *fillers]:
        (listed,) = await entries(world.rtcc.client, plate)
        assert [h["entry"]["id"] for h in await hits_for(world, plate)] == [listed["id"]]


async def test_an_import_whose_index_write_fails_changes_nothing(world, database_url: str, monkeypatch) -> None:
    """When the match index cannot be written the import fails whole: no entry, no listing, the plate index kept
    (a first import on SQLite drops it while it loads), and the run recorded as failed. Run again, it loads, with
    the plate index built."""
    import io

    from server.audit.service import Actor
    from server.hotlist.imports import ImportService

    res = world.server.resources

    async def plate_index_present() -> bool:
        if not database_url.startswith("sqlite"):
            return True  # PostgreSQL's import never drops it
        async with res.engine.connect() as conn:
            names = (await conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE type = 'index' "
                                                "AND tbl_name = 'hotlist_entry'")).scalars().all()
        return "ix_hotlist_entry_plate" in names

    async def unreachable(_commands: object) -> None:
        raise ConnectionError("Redis went away")

    monkeypatch.setattr(res.index, "send_bulk", unreachable)
    body = ncic_file(*(ncic_line("V", f"FAIL{n:03d}") for n in range(20)))
    with pytest.raises(ConnectionError):
        await ImportService(res).run(io.BytesIO(body), source="NCIC", fmt="ncic", replace=False,
                                     actor=Actor(None, "test", "test"))
    monkeypatch.undo()
    assert await entries(world.rtcc.client, "FAIL001") == []
    resp = await world.rtcc.client.get("/api/v1/hotlist/imports", params={"source": "NCIC"})
    (run,) = resp.json()["imports"]
    assert run["status"] == "failed" and "Redis went away" in run["error"]
    assert await plate_index_present()
    assert await imported(world.rtcc.client, body) and len(await hits_for(world, "FAIL001")) == 1
    assert await plate_index_present()
