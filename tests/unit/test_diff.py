"""lab/compare/diff.py: output diffs, explicit ignore rules and noise learned from the baseline."""

from __future__ import annotations

from lab.compare.diff import Rules, compare, render
from lab.scenario.model import Ignore


def http(body: object, status: int = 200) -> dict:
    return {"status": status, "headers": {"content-type": "application/json"}, "body": {"json": body}}


def sql(rows: list[list[str | None]], columns: tuple[str, ...] = ("id", "at", "total")) -> dict:
    return {"columns": [{"name": c, "type": "text"} for c in columns], "rows": rows}


def test_changed_json_field_is_reported_field_by_field():
    found = compare(http({"id": 1, "issued": "2026-01-08"}), [], http({"id": 1, "issued": "Thu, 08 Jan 2026"}), Rules())
    assert found.changed
    assert '-$.issued: "2026-01-08"' in found.diff and '+$.issued: "Thu, 08 Jan 2026"' in found.diff
    assert "$.id" not in found.diff.replace(" $.id", "")  # unchanged fields only as context


def test_volatile_json_field_learned_from_the_baseline_is_not_reported():
    first = http({"id": 1, "at": "12:00:01", "request": "a1"})
    again = http({"id": 1, "at": "12:00:02", "request": "b2"})
    candidate = http({"id": 1, "at": "12:00:03", "request": "c3"})
    found = compare(first, [again], candidate, Rules())
    assert not found.changed and found.diff == ""
    assert found.noise == (
        "$.at (differs between two observations of the baseline)",
        "$.request (differs between two observations of the baseline)",
    )


def test_noise_does_not_hide_a_real_change_next_to_it():
    first, again = http({"at": "1", "total": 10}), http({"at": "2", "total": 10})
    found = compare(first, [again], http({"at": "3", "total": 11}), Rules())
    assert found.changed and "+$.total: 11" in found.diff and "$.at" not in found.diff.replace(" $.at", "")


def test_sql_noise_is_per_column():
    first = sql([["1", "12:00:01", "10"], ["2", "12:00:01", "20"]])
    again = sql([["1", "12:00:02", "10"], ["2", "12:00:02", "20"]])
    same = sql([["1", "12:00:05", "10"], ["2", "12:00:05", "20"]])
    changed = sql([["1", "12:00:05", "10"], ["2", "12:00:05", "21"]])
    assert not compare(first, [again], same, Rules()).changed
    found = compare(first, [again], changed, Rules())
    assert found.changed and "-row | 2 | <noise> | 20" in found.diff and "+row | 2 | <noise> | 21" in found.diff
    assert found.noise == ("column at (differs between two observations of the baseline)",)


def test_sql_order_matters_only_when_asked():
    first = sql([["1", "a", "10"], ["2", "b", "20"]])
    swapped = sql([["2", "b", "20"], ["1", "a", "10"]])
    assert compare(first, [], swapped, Rules(ordered=True)).changed
    assert not compare(first, [], swapped, Rules(ordered=False)).changed


def test_sql_column_types_and_row_counts_are_compared():
    first = sql([["1", "a", "10"]])
    retyped = {"columns": [{"name": "id", "type": "bigint"}] + first["columns"][1:], "rows": first["rows"]}
    assert "+columns: id bigint, at text, total text" in compare(first, [], retyped, Rules()).diff
    longer = sql([["1", "a", "10"], ["2", "b", "20"]])
    assert "+row count: 2" in compare(first, [], longer, Rules()).diff


def test_explicit_rules_regex_json_paths_columns():
    rules = Rules.of(Ignore(regex=[r"v\d+\.\d+"], json_paths=["$.items[*].id"], columns=["at"]))
    a = http({"items": [{"id": 1, "name": "x"}], "banner": "tool v1.2"})
    b = http({"items": [{"id": 7, "name": "x"}], "banner": "tool v1.3"})
    assert not compare(a, [], b, rules).changed
    assert not compare(sql([["1", "x", "2"]]), [], sql([["1", "y", "2"]]), rules).changed
    assert "JSON path $.items[*].id (ignore rule)" in compare(a, [], b, rules).noise


def test_command_output_noise_is_per_line():
    def out(*lines: str) -> dict:
        return {"exit_code": 0, "stdout": "\n".join(lines) + "\n", "stderr": ""}

    first, again = out("ok", "took 12 ms", "done"), out("ok", "took 15 ms", "done")
    assert not compare(first, [again], out("ok", "took 9 ms", "done"), Rules()).changed
    found = compare(first, [again], out("ok", "took 9 ms", "failed"), Rules())
    assert found.changed and "+stdout | failed" in found.diff
    assert "-stdout | took" not in found.diff and "+stdout | took" not in found.diff  # context at most


def test_exit_code_and_errors_are_facts():
    assert render({"exit_code": 3, "stdout": "", "stderr": "boom\n"}, Rules()) == [
        ("exit code", "3"),
        (None, "stderr | boom"),
    ]
    assert compare({"error": "x"}, [], {"error": "y"}, Rules()).changed


def test_a_noisy_line_replaced_by_something_else_is_a_change():
    def out(line: str) -> dict:
        return {"exit_code": 0, "stdout": f"ok\n{line}\n", "stderr": ""}

    found = compare(out("took 12 ms"), [out("took 15 ms")], out("FATAL: disk full"), Rules())
    assert found.changed and "+stdout | FATAL: disk full" in found.diff


def test_rows_in_another_order_on_the_baseline_are_order_noise():
    first = sql([["1", "a", "10"], ["2", "b", "20"]])
    again = sql([["2", "b", "20"], ["1", "a", "10"]])
    found = compare(first, [again], sql([["2", "b", "20"], ["1", "a", "99"]]), Rules())
    assert found.changed and "+row | 1 | a | 99" in found.diff
    assert found.noise[0].startswith("row order")
    assert not compare(first, [again], sql([["2", "b", "20"], ["1", "a", "10"]]), Rules()).changed


def test_a_regex_rule_does_not_hide_the_status_or_counts():
    rules = Rules.of(Ignore(regex=[r"\d+"]))
    assert compare(http({"a": 1}, status=200), [], http({"a": 2}, status=500), rules).changed
    assert not compare(http({"a": 1}), [], http({"a": 2}), rules).changed


def test_null_and_the_text_null_differ():
    assert compare(sql([["1", None, "x"]]), [], sql([["1", "NULL", "x"]]), Rules()).changed
    assert compare(sql([["p | q", "r", "s"]]), [], sql([["p", "q | r", "s"]]), Rules()).changed


def test_a_place_the_baseline_varies_wholly_on_is_unstable_not_silently_passing():
    first = http({"at": "12:00:01", "request": "a1", "total": 10})
    again = http({"at": "12:00:02", "request": "b2", "total": 10})
    found = compare(first, [again], http({"at": "12:00:03", "request": "ERROR", "total": 10}), Rules())
    assert found.unstable == ("$.request",)  # anything would fit: it cannot be compared
    assert not found.changed  # the timestamp still fits its shape


def test_a_value_that_no_longer_fits_what_varied_is_a_change():
    first, again = http({"at": "12:00:01"}), http({"at": "12:00:02"})
    found = compare(first, [again], http({"at": "never"}), Rules())
    assert found.changed and '+$.at: "never"' in found.diff and found.unstable == ()


def test_a_counter_alone_on_a_line_is_unstable_and_the_real_change_beside_it_is_seen():
    def out(count: str, mode: str) -> dict:
        return {"exit_code": 0, "stdout": f"visits\n{count}\nmode {mode}\n", "stderr": ""}

    found = compare(out("41", "a"), [out("42", "a")], out("7", "b"), Rules())
    assert found.unstable == ("line 'stdout | 41'",)
    assert found.changed and "-stdout | mode a\n+stdout | mode b" in found.diff


def test_sql_cells_keep_their_shape_and_a_wholly_random_column_is_unstable():
    first = sql([["1", "2026-12-04 00:12:01", "a8f3"]])
    again = sql([["1", "2026-12-04 00:12:02", "77c1"]])
    fits = compare(first, [again], sql([["1", "2026-12-04 00:13:09", "0b0b"]]), Rules())
    assert not fits.changed and fits.unstable == ("column total",)
    broken = compare(first, [again], sql([["1", "ERROR: no clock", "0b0b"]]), Rules())
    assert broken.changed and "ERROR: no clock" in broken.diff
