"""Media list filters, sorts and cursors."""

from __future__ import annotations

import datetime as dt

from media_support import MediaWorld

from conftest import Api


def test_every_filter(api: Api) -> None:
    world = MediaWorld.build(api)
    other_user, other_headers = world.member("user")
    world.api.client.post(
        world.url("/participants"), json={"type": "user", "id": str(other_user.id)}, headers=world.headers
    )
    a = world.create(
        filename="a.jpg", contentType="image/jpeg", labels=["red", "big"], properties={"dept": "A"}
    )
    b = world.create(
        filename="b.png", contentType="image/png", labels=["blue"], properties={"dept": "B", "x": "1"}
    )
    c = world.create(
        filename="c.mp4", contentType="video/mp4", properties={"dept": "C"}, headers=other_headers
    )
    d = world.create(filename="d.jpg", labels=["red"])
    api.client.delete(world.media_url(d["mediaId"]), headers=world.headers)
    ids = {name: row["mediaId"] for name, row in zip("abcd", (a, b, c, d), strict=True)}

    def names(**params: object) -> list[str]:
        found = world.ids(**params)
        return sorted(name for name, media_id in ids.items() if media_id in found)

    assert names() == ["a", "b", "c"]
    assert names(archived="exclude") == ["a", "b", "c"]
    assert names(archived="include") == ["a", "b", "c", "d"]
    assert names(archived="only") == ["d"]
    assert names(**{"prop.dept": "A,B"}) == ["a", "b"]
    assert names(**{"prop.dept": "A,B", "prop.x": "1"}) == ["b"]
    assert names(**{"{prop.*}": "prop.dept=C"}) == ["c"]
    assert names(contentType="image/jpeg,video/mp4") == ["a", "c"]
    assert names(labels="red,blue") == ["a", "b"]
    assert names(labels="red", archived="include") == ["a", "d"]
    assert names(excludeLabels="red") == ["b", "c"]
    assert names(createdBy=str(other_user.id)) == ["c"]
    assert names(modifiedBy=str(world.admin.id)) == ["a", "b"]
    created_c = c["createdAt"]
    assert names(createdFrom=created_c) == ["c"]
    assert names(createdTo=a["createdAt"]) == ["a"]
    assert names(modifiedFrom=created_c) == ["c"]
    later = (dt.datetime.fromisoformat(d["modifiedAt"]) + dt.timedelta(hours=1)).isoformat()
    assert names(modifiedTo=later) == ["a", "b", "c"]
    assert names(modifiedFrom=later) == []


def test_sorts_and_cursors(api: Api) -> None:
    world = MediaWorld.build(api)
    created = [world.create(filename=name)["mediaId"] for name in ("c.jpg", "a.jpg", "b.jpg", "a.jpg")]
    assert world.ids() == created
    by_name = world.ids(sort="filename")
    assert by_name == [created[1], created[3], created[2], created[0]]
    assert world.ids(sort="-filename") == by_name[::-1]
    assert world.ids(sort="createdAt") == created
    assert world.ids(sort="-createdAt") == created[::-1]
    assert world.ids(sort="-modifiedAt") == created[::-1]
    first = world.page(limit=3, sort="filename")
    assert first["page"]["total"] == 4
    assert [row["mediaId"] for row in first["data"]] == by_name[:3]
    second = world.page(limit=3, sort="filename", nextCursor=first["page"]["nextCursor"])
    assert [row["mediaId"] for row in second["data"]] == by_name[3:]
    assert second["page"]["nextCursor"] is None
    back = world.page(limit=3, sort="filename", prevCursor=second["page"]["prevCursor"])
    assert [row["mediaId"] for row in back["data"]] == by_name[:3]


def test_lists_show_only_the_sessions_own_media(api: Api) -> None:
    world = MediaWorld.build(api)
    mine = world.create()["mediaId"]
    world.create(session_id=world.new_session())
    assert world.ids() == [mine]
