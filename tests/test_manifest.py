"""pipeline.manifest: reading CSV/Parquet manifests and reporting every bad row at once."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import io
from pipeline.manifest import ManifestError, check_outputs_do_not_overwrite_inputs, read_manifest


def write_csv(path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_csv_rows_resolve_carry_extras_and_keep_text_ids(tmp_path):
    uri = write_csv(
        tmp_path / "m.csv",
        'id,uri,op,mask_uri,params,collection\n007,a.png,,,,"Box 3"\nx,/abs/b.png,sr_avgpool,,"{""scale"": 2}",\n',
    )
    rows = read_manifest(uri, default_op="colorize")
    assert [r.id for r in rows] == ["007", "x"]
    assert rows[0].uri == str(tmp_path / "a.png") and rows[0].op == "colorize"
    assert rows[1].uri == "/abs/b.png" and rows[1].op == "sr_avgpool"
    assert json.loads(rows[1].params) == {"scale": 2}
    assert json.loads(rows[0].extra) == {"collection": "Box 3"}


def test_parquet_manifest(tmp_path):
    table = pa.table({"id": ["a", "b"], "uri": ["s3://bucket/a.png", "b.png"], "year": [1901, None]})
    pq.write_table(table, tmp_path / "m.parquet")
    rows = read_manifest(str(tmp_path / "m.parquet"), default_op="colorize")
    assert rows[0].uri == "s3://bucket/a.png" and rows[1].uri == str(tmp_path / "b.png")
    assert json.loads(rows[0].extra) == {"year": 1901} and json.loads(rows[1].extra) == {"year": None}


@pytest.mark.parametrize(("name", "text"), [
    ("excel.csv", 'ID;URI;Title\n007;a.png;"Box 3; shelf 2"\nx;b.png;\n'),  # Excel where "," is the decimal mark
    ("m.tsv", "id\turi\ttitle\n007\ta.png\tBox 3; shelf 2\nx\tb.png\t\n"),
    ("bars.csv", "Id|Uri|title\n007|a.png|Box 3; shelf 2\nx|b.png|\n"),
    ("commas.csv", 'id,uri,"title; caption; note; remark"\n007,a.png,"Box 3; shelf 2"\nx,b.png,\n'),
])  # fmt: skip
def test_spreadsheet_exports_are_read_as_they_come(tmp_path, name, text):
    rows = read_manifest(write_csv(tmp_path / name, text), default_op="colorize")
    assert [(r.id, r.uri) for r in rows] == [("007", str(tmp_path / "a.png")), ("x", str(tmp_path / "b.png"))]
    extra = json.loads(rows[0].extra)
    assert list(extra.values()) == ["Box 3; shelf 2"] and "id" not in extra and "ID" not in extra


def test_a_column_spelt_twice_keeps_the_exact_one(tmp_path):
    rows = read_manifest(write_csv(tmp_path / "m.csv", "id,ID,uri\na,b,a.png\n"), default_op="colorize")
    assert rows[0].id == "a" and json.loads(rows[0].extra) == {"ID": "b"}


def test_missing_columns_are_named(tmp_path):
    with pytest.raises(ManifestError, match=r"lacks required column\(s\) \['uri'\]"):
        read_manifest(write_csv(tmp_path / "m.csv", "id,path\na,a.png\n"), default_op="colorize")


def test_every_bad_row_is_listed_in_one_error(tmp_path):
    uri = write_csv(
        tmp_path / "m.csv",
        "id,uri,op,mask_uri,params\n"
        "a,a.png,,,\n"  # fine
        "a,b.png,,,\n"  # duplicate id
        "c,c.png,no_such_op,,\n"  # unknown op
        'd,d.png,,,"{not json"\n'  # bad params JSON
        'e,e.png,,,"[1, 2]"\n'  # params not an object
        "f,f.png,inpaint,,\n"  # inpaint without a mask
        ",g.png,,,\n"  # empty id
        "h,,,,\n",  # empty uri
    )
    with pytest.raises(ManifestError) as info:
        read_manifest(uri, default_op="colorize")
    message = str(info.value)
    assert "has 7 problem(s)" in message
    for expected in [
        "row 2 (id 'a'): duplicate id (first at row 1)",
        "row 3 (id 'c'): unknown operator 'no_such_op'",
        "row 4 (id 'd'): params is not valid JSON",
        "row 5 (id 'e'): params must be a JSON object",
        "row 6 (id 'f'): operator 'inpaint' needs a mask",
        "row 7 (id ''): empty id",
        "row 8 (id 'h'): empty uri",
    ]:
        assert expected in message
    assert "row 1 " not in message


def test_no_op_anywhere_is_an_error(tmp_path):
    with pytest.raises(ManifestError, match="no op in the row and no default op"):
        read_manifest(write_csv(tmp_path / "m.csv", "id,uri\na,a.png\n"))


def test_unknown_default_op_lists_the_valid_ones(tmp_path):
    with pytest.raises(ManifestError, match=r"unknown operator 'colourise'; expected one of \[.*'colorize'"):
        read_manifest(write_csv(tmp_path / "m.csv", "id,uri\na,a.png\n"), default_op="colourise")


def test_operators_without_image_measurements_are_refused(tmp_path):
    with pytest.raises(ManifestError, match="'cs' is not supported by the batch pipeline"):
        read_manifest(write_csv(tmp_path / "m.csv", "id,uri\na,a.png\n"), default_op="cs")


@pytest.mark.parametrize(
    ("name", "content", "match"),
    [("missing.csv", None, "cannot read manifest"), ("m.csv", "", "manifest is empty"),
     ("m.txt", "id,uri\n", "must end in .csv, .tsv or .parquet"), ("m.parquet", "not parquet", "cannot parse manifest"),
     ("m.csv", "id,uri\n", "has no rows"), ("m.csv", 'id,uri\n"a,b\n', "cannot parse manifest")],
)  # fmt: skip
def test_unreadable_manifests(tmp_path, name, content, match):
    if content is not None:
        (tmp_path / name).write_text(content)
    with pytest.raises(ManifestError, match=match):
        read_manifest(str(tmp_path / name), default_op="colorize")


def test_long_problem_lists_are_cut(tmp_path):
    lines = "".join(f"{i},,\n" for i in range(50))
    with pytest.raises(ManifestError) as info:
        read_manifest(write_csv(tmp_path / "m.csv", "id,uri,op\n" + lines), default_op="colorize")
    assert "50 problem(s)" in str(info.value) and "... and 30 more" in str(info.value)


def test_outputs_may_not_overwrite_inputs(tmp_path):
    out = str(tmp_path / "out")
    victim = io.output_uri_for(out, "b")
    rows = read_manifest(write_csv(tmp_path / "m.csv", f"id,uri\na,a.png\nb,{victim}\n"), default_op="colorize")
    with pytest.raises(ManifestError, match="would overwrite the input of row id 'b'"):
        check_outputs_do_not_overwrite_inputs(rows, out, lambda i: io.output_uri_for(out, i))
    with pytest.raises(ManifestError, match="output location .* is an input file"):
        check_outputs_do_not_overwrite_inputs(rows, str(tmp_path / "a.png"), lambda i: io.output_uri_for(out, i))
    check_outputs_do_not_overwrite_inputs(rows, str(tmp_path / "elsewhere"), lambda i: io.output_uri_for(out + "2", i))
