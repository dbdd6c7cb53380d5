"""Keyset pagination over a few thousand sessions: every session exactly once, in order, both ways,
also while new sessions are created between page fetches; and every kind of bad cursor is a 400."""

from __future__ import annotations

import base64
import datetime as dt
import json
import random
from typing import Any

from sessions_support import World, assert_error

from conftest import Api

NAMES = ["alpha", "bravo", "charlie", "delta", "echo", ""]


def _arrange(world: World, count: int, seed: int) -> list[dict[str, Any]]:
    """``count`` sessions with many equal names and timestamps, created out of timestamp order."""
    rng = random.Random(seed)
    base = dt.datetime(2024, 5, 1, tzinfo=dt.UTC)
    rows = [
        {
            "name": rng.choice(NAMES),
            # Millisecond buckets with ~10 sessions each: lots of ties to break by creation order.
            "created_at": base + dt.timedelta(milliseconds=rng.randrange(count // 10)),
            "modified_at": base + dt.timedelta(seconds=rng.randrange(count // 10)),
        }
        for _ in range(count)
    ]
    for row, session_id in zip(rows, world.insert_sessions(rows), strict=True):
        row["id"] = session_id
    for position, row in enumerate(rows):
        row["position"] = position  # creation order
    return rows


def _expected(rows: list[dict[str, Any]], sort: str) -> list[str]:
    field = {"name": "name", "createdAt": "created_at", "modifiedAt": "modified_at", "_id": "position"}
    key = field[sort.removeprefix("-")]
    ordered = sorted(rows, key=lambda row: (row[key], row["position"]))
    if sort.startswith("-"):
        ordered.reverse()  # descending on the value and on the tie-breaker
    return [row["id"] for row in ordered]


def _walk_pages(world: World, **params: Any) -> list[dict[str, Any]]:
    pages = [world.page(**params)]
    while pages[-1]["page"]["nextCursor"]:
        pages.append(world.page(**params, nextCursor=pages[-1]["page"]["nextCursor"]))
    return pages


def test_walking_thousands_of_sessions_in_every_order(api: Api) -> None:
    world = World.build(api)
    rows = _arrange(world, 2000, seed=7)
    for sort in ("_id", "name", "-name", "-createdAt", "modifiedAt"):
        pages = _walk_pages(world, sort=sort, limit=200)
        assert len(pages) == 10
        walked = [row["sessionId"] for page in pages for row in page["data"]]
        assert walked == _expected(rows, sort), sort
        assert {page["page"]["total"] for page in pages} == {2000}
        assert all(page["page"]["count"] == 200 and page["page"]["limit"] == 200 for page in pages)
        assert pages[0]["page"]["prevCursor"] is None
        assert all(page["page"]["prevCursor"] for page in pages[1:])
        assert pages[-1]["page"]["nextCursor"] is None

        # prevCursor walks back over exactly the same pages.
        back = pages[-1]
        for earlier in reversed(pages[:-1]):
            back = world.page(sort=sort, limit=200, prevCursor=back["page"]["prevCursor"])
            assert back["data"] == earlier["data"], sort
        assert back["page"]["prevCursor"] is None
        assert back["page"]["nextCursor"] == pages[0]["page"]["nextCursor"]

    # The default order is the creation order, the same as sort=_id; its cursors are shared.
    default = world.page(limit=200)
    assert [row["sessionId"] for row in default["data"]] == _expected(rows, "_id")[:200]
    assert world.page(limit=200, sort="_id", nextCursor=default["page"]["nextCursor"])["page"]["count"] == 200


def test_uneven_pages_and_walking_back_from_the_middle(api: Api) -> None:
    world = World.build(api)
    rows = _arrange(world, 130, seed=3)
    expected = _expected(rows, "-createdAt")
    pages = _walk_pages(world, sort="-createdAt", limit=50)
    assert [page["page"]["count"] for page in pages] == [50, 50, 30]
    assert [row["sessionId"] for page in pages for row in page["data"]] == expected
    # From the second page back: the first page again, with its own cursors.
    first_again = world.page(sort="-createdAt", limit=50, prevCursor=pages[1]["page"]["prevCursor"])
    assert first_again["data"] == pages[0]["data"]
    assert first_again["page"]["prevCursor"] is None
    # Forward again from there lands on the second page.
    second = world.page(sort="-createdAt", limit=50, nextCursor=first_again["page"]["nextCursor"])
    assert second["data"] == pages[1]["data"]


def test_nothing_is_skipped_or_repeated_while_sessions_are_created(api: Api) -> None:
    world = World.build(api)
    rows = _arrange(world, 600, seed=11)
    arranged = {row["id"] for row in rows}
    rng = random.Random(5)
    for sort in ("_id", "name", "-name", "createdAt", "-createdAt"):
        # What exists now (sessions made by earlier rounds included), in this order.
        existing = world.ids(sort=sort)
        assert [sid for sid in existing if sid in arranged] == _expected(rows, sort)
        total_before = len(existing)
        params = {"sort": sort, "limit": 50}
        walked: list[dict[str, Any]] = []
        created_during: set[str] = set()
        body = world.page(**params)
        while True:
            walked.extend(body["data"])
            # Someone creates sessions between our page fetches, with names all over the order.
            for _ in range(2):
                created_during.add(world.create(name=rng.choice(NAMES))["sessionId"])
            if body["page"]["nextCursor"] is None:
                break
            body = world.page(**params, nextCursor=body["page"]["nextCursor"])
        walked_ids = [row["sessionId"] for row in walked]
        assert len(walked_ids) == len(set(walked_ids)), f"{sort}: a session came twice"
        old = [sid for sid in walked_ids if sid not in created_during]
        assert old == existing, f"{sort}: an existing session was skipped or moved"
        if sort == "_id":
            # New sessions come after every existing one in creation order, and are seen as they come.
            assert walked_ids[: len(existing)] == existing
            assert set(walked_ids[len(existing) :]) <= created_during
            assert len(walked_ids) > len(existing)
        if sort in ("name", "-name"):
            names = [row["name"] for row in walked]
            assert names == sorted(names, reverse=sort.startswith("-"))
        # The total is counted when the walk begins and carried by its cursors (docs/skylight.md);
        # a walk begun afresh counts what exists then.
        assert body["page"]["total"] == total_before
        assert world.page(**params)["page"]["total"] == total_before + len(created_during)


def _cursor(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).rstrip(b"=").decode()


def test_bad_cursors_are_400(api: Api) -> None:
    world = World.build(api)
    world.insert_sessions([{"name": str(index)} for index in range(3)])
    good = world.page(limit=1)["page"]["nextCursor"]
    assert good
    bad = [
        "x",
        "not a cursor",
        "%%%",
        good + "!!",
        good[:-3],
        "A" * 3000,
        _cursor([1, 2]),
        _cursor("text"),
        _cursor({"s": "_id", "v": 1, "b": False}),
        _cursor({"s": "_id", "v": 1, "k": "1", "b": False}),
        _cursor({"s": "_id", "v": 1, "k": 1.5, "b": False}),
        _cursor({"s": "_id", "v": 1, "k": True, "b": False}),
        _cursor({"s": "_id", "v": 1, "k": 10**30, "b": False}),
        _cursor({"s": "_id", "v": 10**30, "k": 1, "b": False}),
        _cursor({"s": "_id", "v": 1, "k": 1, "b": "no"}),
        _cursor({"s": 5, "v": 1, "k": 1, "b": False}),
    ]
    for text in bad:
        for field in ("nextCursor", "prevCursor"):
            response = api.client.get(world.base, params={field: text}, headers=world.headers)
            assert_error(response, 400, field)
    strange_values = [
        ("name", {"s": "name", "v": "a\u0000b", "k": 1, "b": False}),
        ("name", {"s": "name", "v": 5, "k": 1, "b": False}),
        ("createdAt", {"s": "createdAt", "v": "0001-01-01T00:00:00+01:00", "k": 1, "b": False}),
        ("createdAt", {"s": "createdAt", "v": "2024-01-01T00:00:00", "k": 1, "b": False}),
        ("createdAt", {"s": "createdAt", "v": "soon", "k": 1, "b": False}),
    ]
    for sort, payload in strange_values:
        response = api.client.get(
            world.base, params={"sort": sort, "nextCursor": _cursor(payload)}, headers=world.headers
        )
        assert_error(response, 400, "nextCursor", "not a valid cursor")


def test_a_cursor_is_tied_to_its_sort_and_direction(api: Api) -> None:
    world = World.build(api)
    world.insert_sessions([{"name": str(index)} for index in range(5)])
    first = world.page(sort="name", limit=2)
    second = world.page(sort="name", limit=2, nextCursor=first["page"]["nextCursor"])
    for other in ("-name", "createdAt", "_id"):
        response = api.client.get(
            world.base,
            params={"sort": other, "nextCursor": first["page"]["nextCursor"]},
            headers=world.headers,
        )
        assert_error(response, 400, "nextCursor", "another sort")
    response = api.client.get(
        world.base, params={"nextCursor": first["page"]["nextCursor"]}, headers=world.headers
    )
    assert_error(response, 400, "nextCursor", "another sort")
    # A nextCursor given as prevCursor (or the reverse) is refused, not walked the wrong way.
    response = api.client.get(
        world.base, params={"sort": "name", "prevCursor": first["page"]["nextCursor"]}, headers=world.headers
    )
    assert_error(response, 400, "prevCursor")
    response = api.client.get(
        world.base, params={"sort": "name", "nextCursor": second["page"]["prevCursor"]}, headers=world.headers
    )
    assert_error(response, 400, "nextCursor")


def test_next_cursor_wins_over_prev_cursor(api: Api) -> None:
    world = World.build(api)
    world.insert_sessions([{} for _ in range(6)])
    first = world.page(limit=2)
    second = world.page(limit=2, nextCursor=first["page"]["nextCursor"])
    third = world.page(limit=2, nextCursor=second["page"]["nextCursor"], prevCursor="ignored garbage")
    assert third["data"] == world.page(limit=2, nextCursor=second["page"]["nextCursor"])["data"]
    assert third["page"]["nextCursor"] is None


def test_the_last_page_has_a_prev_cursor_and_no_next_cursor(api: Api) -> None:
    world = World.build(api)
    world.insert_sessions([{} for _ in range(3)])
    assert world.page(limit=3)["page"]["nextCursor"] is None
    last = world.page(limit=1, nextCursor=world.page(limit=2)["page"]["nextCursor"])
    assert last["page"]["count"] == 1
    assert last["page"]["nextCursor"] is None
    assert last["page"]["prevCursor"]


def test_filters_apply_to_every_page(api: Api) -> None:
    world = World.build(api)
    rows = _arrange(world, 300, seed=2)
    wanted = [row["id"] for row in rows if row["name"] == "bravo"]
    assert world.ids(name="bravo", limit=7) == wanted
    assert world.page(name="bravo", limit=7)["page"]["total"] == len(wanted)


def test_a_cursor_belongs_to_its_query_and_cannot_carry_a_forged_total(api: Api) -> None:
    world = World.build(api)
    for index in range(5):
        world.create(name=f"n{index}", properties={"team": "red" if index % 2 else "blue"})
    first = world.page(limit=2, **{"prop.team": "blue"})
    cursor = first["page"]["nextCursor"]
    assert world.page(limit=2, nextCursor=cursor, **{"prop.team": "blue"})["page"]["total"] == 3
    # The same cursor with other filters, or with its total edited, is refused.
    other = api.client.get(
        world.base, params={"limit": 2, "nextCursor": cursor, "prop.team": "red"}, headers=world.headers
    )
    assert_error(other, 400, "cursor")
    payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    forged = {**payload, "t": 999_999, "f": "0" * 16}
    response = api.client.get(
        world.base,
        params={"limit": 2, "nextCursor": _cursor(forged), "prop.team": "blue"},
        headers=world.headers,
    )
    assert_error(response, 400, "cursor")
