"""pipeline.io: safe output names, URI resolution, atomic writes, listings."""

from __future__ import annotations

import os

import pytest

from pipeline import io


@pytest.mark.parametrize(
    "row_id",
    ["../../etc/passwd", "..", ".", "/abs/path", "a/../../b", "..\\..\\windows", "", " ", "\x00nul", "a:b", "~/x"],
)
def test_output_name_never_escapes_the_folder(row_id, tmp_path):
    name = io.output_name(row_id)
    assert "/" not in name and "\\" not in name and ".." not in name
    assert not name.startswith(".")
    target = os.path.realpath(os.path.join(tmp_path, name))
    assert os.path.dirname(target) == os.path.realpath(tmp_path)


def test_output_names_are_unique_per_id_even_when_slugs_agree():
    ids = ["a/b", "a b", "a-b", "a?b", "A-B"]
    names = [io.output_name(i) for i in ids]
    assert len(set(names)) == len(ids)
    assert all(n.startswith(("a-b-", "A-B-")) for n in names)


def test_output_name_is_readable_and_bounded():
    assert io.output_name("Ünïcode photo #1.tif").startswith("Unicode-photo-1.tif-")
    assert len(io.output_name("x" * 1000)) <= io.SLUG_MAX + 1 + io.ID_HASH_CHARS + len(".png")


def test_resolve_relative_to_manifest_folder(tmp_path):
    assert io.resolve("img/a.png", str(tmp_path)) == str(tmp_path / "img" / "a.png")
    assert io.resolve("/abs/a.png", str(tmp_path)) == "/abs/a.png"
    assert io.resolve("s3://bucket/a.png", str(tmp_path)) == "s3://bucket/a.png"
    assert io.resolve("a.png", "s3://bucket/dir") == "s3://bucket/dir/a.png"
    assert io.resolve("file:///abs/a.png", str(tmp_path)) == "/abs/a.png"


def test_normalize_sees_through_spellings(tmp_path):
    (tmp_path / "d").mkdir()
    assert io.normalize(str(tmp_path / "d" / ".." / "x.png")) == io.normalize("file://" + str(tmp_path / "x.png"))
    assert io.normalize("s3://bucket/k/") == "s3://bucket/k"


def test_atomic_write_creates_folders_and_leaves_no_temp_files(tmp_path):
    uri = str(tmp_path / "deep" / "er" / "f.bin")
    io.write_bytes_atomic(uri, b"first")
    io.write_bytes_atomic(uri, b"second")
    assert io.read_bytes(uri) == b"second"
    assert sorted(os.listdir(tmp_path / "deep" / "er")) == ["f.bin"]


def test_list_files_of_missing_folder_is_empty(tmp_path):
    assert io.list_files(str(tmp_path / "nope")) == []
    io.write_bytes_atomic(str(tmp_path / "a.txt"), b"")
    (tmp_path / "sub").mkdir()
    assert io.list_files(str(tmp_path)) == [io.join(str(tmp_path), "a.txt")]


@pytest.mark.parametrize("where", ["local", "s3"])
def test_read_many_returns_every_file_in_order_across_chunks(where, tmp_path, request):
    """The ledger reads its parts with read_many: concurrent on an object store, in the listing's order always (the
    latest row of an id is the last one read), in chunks that bound memory."""
    options = None
    if where == "local":
        base = str(tmp_path / "parts")
    else:
        options = {"endpoint_url": request.getfixturevalue("s3_endpoint"), "key": "testing", "secret": "testing"}
        bucket = "many-" + os.urandom(4).hex()
        io.filesystem_for(f"s3://{bucket}", options)[0].mkdir(bucket)
        base = f"s3://{bucket}/parts"
    uris = [io.join(base, f"part-{i:04d}") for i in range(23)]
    for i, uri in enumerate(reversed(uris)):  # written out of order: the order read is the order asked
        io.write_bytes_atomic(uri, f"{22 - i}".encode() * (i + 1), options)
    read = list(io.read_many(io.list_files(base, options), options, chunk=5))
    assert [r[: len(str(i))] for i, r in enumerate(read)] == [str(i).encode() for i in range(23)]
    assert [len(r) for r in read] == [(23 - i) * len(str(i)) for i in range(23)]
    assert list(io.read_many([], options)) == []
