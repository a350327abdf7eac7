"""lab/pipeline/configs.py: the client's configuration files placed into a created
container, a path with `*` matched in the image (no Docker: an engine stand-in that lists
and keeps what it is given)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from lab.errors import LabError
from lab.pipeline import configs
from lab.results import Kind, Outcome
from lab.scenario import Variant
from lab.scenario.model import ConfigFile, Service

IMAGE = [
    "/etc/",
    "/etc/redis/",
    "/etc/postgresql/",
    "/etc/postgresql/17/",
    "/etc/postgresql/17/main/",
    "/etc/postgresql/17/main/conf.d/",
    "/etc/postgresql/17/main/postgresql.conf",
]


class Engine:
    def __init__(self, files: list[str]):
        self.files = files
        self.placed: dict[str, bytes] = {}

    def listing(self, container: str, folder: str) -> list[str]:
        return [f for f in self.files if f.startswith(folder.rstrip("/") + "/")]

    def exists(self, container: str, path: str) -> bool:
        return any(f.rstrip("/") == path or f.startswith(path + "/") for f in self.files)

    def put_archive(self, container: str, path: str, data) -> None:
        with tarfile.open(fileobj=io.BytesIO(b"".join(data)), mode="r:") as tar:
            for member in tar:
                name = f"{path.rstrip('/')}/{member.name}"
                self.placed[name] = tar.extractfile(member).read() if member.isfile() else b"<folder>"  # type: ignore[union-attr]


def test_a_file_goes_into_the_one_folder_its_pattern_matches(tmp_path):
    (tmp_path / "tuning.conf").write_text("work_mem = 8MB\n")
    engine = Engine(IMAGE)
    items = [
        ConfigFile(file="tuning.conf", path="/etc/postgresql/*/main/conf.d/"),
        ConfigFile(file="tuning.conf", path="/etc/redis/shop.conf"),
    ]
    placed = configs.place(engine, "c-db", items, tmp_path)  # type: ignore[arg-type]
    assert placed == ["/etc/postgresql/17/main/conf.d/tuning.conf", "/etc/redis/shop.conf"]
    assert engine.placed["/etc/postgresql/17/main/conf.d/tuning.conf"] == b"work_mem = 8MB\n"


@pytest.mark.parametrize(
    ("files", "said"),
    [
        ([], "matches nothing in the image"),
        (IMAGE + ["/etc/postgresql/15/main/conf.d/"], "matches 2 paths (/etc/postgresql/15/main/conf.d,"),
    ],
)
def test_a_pattern_that_matches_no_path_or_several_is_a_clear_error(tmp_path, files, said):
    (tmp_path / "tuning.conf").write_text("")
    with pytest.raises(LabError) as caught:
        configs.place(
            Engine(files), "c", [ConfigFile(file="tuning.conf", path="/etc/postgresql/*/main/conf.d/")], tmp_path
        )  # type: ignore[arg-type]
    assert str(caught.value).startswith("the configuration file tuning.conf could not be placed at /etc/postgresql/*/")
    assert said in str(caught.value) and "give the path of this version" in str(caught.value)


def test_folders_the_image_lacks_are_made_and_no_other_is_touched(tmp_path):
    (tmp_path / "postgres_checkpoints").write_text("#!/bin/sh\n")
    engine = Engine(IMAGE)
    item = ConfigFile(file="postgres_checkpoints", path="/etc/munin/plugins/")
    assert configs.place(engine, "c-db", [item], tmp_path) == ["/etc/munin/plugins/postgres_checkpoints"]  # type: ignore[arg-type]
    assert engine.placed == {
        "/etc/munin": b"<folder>",
        "/etc/munin/plugins": b"<folder>",
        "/etc/munin/plugins/postgres_checkpoints": b"#!/bin/sh\n",
    }


def test_each_configuration_file_is_a_check_taken_or_refused_in_the_servers_words():
    variant = Variant(
        "next",
        "candidate",
        "",
        {
            "db": Service(
                image="pg",
                config=[ConfigFile(file="tuning.conf", path="/etc/pg/"), ConfigFile(file="hba.conf", path="/etc/pg/")],
            ),
            "app": Service(image="app"),
        },
    )
    said = 'FATAL:  configuration file "/etc/pg/tuning.conf" contains errors'
    found = {c.id: c for c in configs.checks(variant, {"db": ["/etc/pg/hba.conf"]}, {"db": {"tuning.conf": said}})}
    assert set(found) == {"config:db tuning.conf", "config:db hba.conf"}
    assert (
        found["config:db tuning.conf"].outcome == Outcome.FAILED
        and found["config:db tuning.conf"].message == f"refused: {said}"
    )
    assert found["config:db hba.conf"].outcome == Outcome.PASSED and found["config:db hba.conf"].kind == Kind.CONFIG


def test_a_refusal_is_read_from_the_lines_that_name_the_file():
    log = (
        "2026-12-04 06:14:56.271 GMT [1] LOG:  unrecognized configuration parameter"
        ' "x" in file "/etc/pg/t.conf" line 4\n'
        "2026-12-04 06:14:56.271 GMT [1] LOG:  database system is shut down\n"
    )
    assert configs.refused(log, ["/etc/pg/t.conf", "/etc/pg/u.conf"]) == {
        "/etc/pg/t.conf": 'LOG:  unrecognized configuration parameter "x" in file "/etc/pg/t.conf" line 4'
    }
    assert configs.refused("LOG:  database system is shut down", ["/etc/pg/t.conf"]) == {}  # not named, not said


@pytest.mark.parametrize(
    ("version", "said"),
    [
        (
            "7.0",
            "*** FATAL CONFIG FILE ERROR (Redis 7.0.15) *** / Reading the configuration file, at line 2 /"
            " >>> 'no-such-directive yes' / Bad directive or wrong number of arguments",
        ),
        (
            "8.0",
            "Unresolved Configuration(s) Detected: / >>> 'no-such-directive yes' / Module Configuration detected"
            " without loadmodule directive or no ApplyConfig call: aborting",
        ),
    ],
)
def test_redis_refusing_its_one_file_is_told_by_what_it_says_of_its_configuration(version, said):
    log = (Path(__file__).parent / "discover_outputs" / f"redis-{version}-refuses.log").read_text()
    assert configs.refused(log, ["/etc/redis/shop.conf"]) == {"/etc/redis/shop.conf": said}
    assert configs.refused(log, ["/etc/redis/shop.conf", "/etc/redis/more.conf"]) == {}  # which one: not told
