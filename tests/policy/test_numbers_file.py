"""Numbers from a registry CSV (rules 1.1 section 7): loading, located errors, filing periods."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipguard.errors import RulesError
from sipguard.policy import MemoryState, Reason, evaluate, load_rules, numbers_csv
from sipguard.policy.facts import NumberState

from .conftest import BASE, Write, at, inc, out

HEADER = "number,operator,trunk,inbound,outbound,usage,valid_from,valid_until\n"
PERIOD = "valid_from: 2026-06-01, valid_until: 2026-06-30"
INLINE = BASE[BASE.index("numbers:\n") : BASE.index("outbound:\n")]
ROWS = (
    "95123,acme,acme-1,true,false,hotline,,\n"
    "4008001234,acme,acme-1,true,true,,,\n"
    "020-6123-4567,beta,beta-1,false,true,,,\n"
)


def _file_rules(write_rules: Write, tmp_path: Path, body: str, header: str = HEADER) -> Path:
    (tmp_path / "numbers.csv").write_text(header + body, encoding="utf-8")
    return write_rules(BASE.replace(INLINE, "numbers:\n  file: numbers.csv\n"))


def _issues(path: Path) -> list[str]:
    with pytest.raises(RulesError) as err:
        load_rules(path)
    return [str(i) for i in err.value.issues]


def test_a_csv_gives_the_index_the_inline_list_gives(write_rules: Write, tmp_path: Path) -> None:
    """The same three numbers, inline or from the CSV: equal entries, equal verdicts."""
    inline = load_rules(write_rules())
    filed = load_rules(_file_rules(write_rules, tmp_path, ROWS))
    strip = [(e.nsn, e.operator, e.trunk, e.inbound, e.outbound) for e in inline.numbers.entries()]
    assert [
        (e.nsn, e.operator, e.trunk, e.inbound, e.outbound) for e in filed.numbers.entries()
    ] == strip
    assert filed.numbers.lookup("95123").usage == "hotline"  # type: ignore[union-attr]
    now = at("2026-06-01 10:00")
    for facts in (
        out(),
        out(caller="4008001"),
        inc(),
        inc(callee="951234"),
        out(caller="2061234567"),
    ):
        assert evaluate(facts, filed, MemoryState(), now) == evaluate(
            facts, inline, MemoryState(), now
        )


def test_every_bad_row_is_located_and_collected(write_rules: Write, tmp_path: Path) -> None:
    """Each v1 check applies to each row; every bad row is reported as numbers.csv:LINE:COL."""
    body = (
        "4008001234,acme,acme-1,true,true,,,\n"  # line 2, good
        "4008001234,acme,acme-1,true,true,,,\n"  # 3: duplicate
        "40080x,acme,acme-1,true,false,,,\n"  # 4: not digits
        "4008001235,acne,acme-1,true,false,,,\n"  # 5: unknown operator
        "4008001236,acme,acme-9,true,false,,,\n"  # 6: unknown trunk
        "4008001237,beta,acme-1,true,false,,,\n"  # 7: operator mismatch
        "4008001238,acme,acme-1,maybe,false,,,\n"  # 8: bad boolean
        "4008001239,acme,acme-1,true,false,,2026-13-01,\n"  # 9: bad date
        "4008001240,acme,acme-1,true,false,,2026-06-02,2026-06-01\n"  # 10: reversed period
        "4008001241,acme,acme-1,true\n"  # 11: short row
    )
    rules = _file_rules(write_rules, tmp_path, body)
    where = str(rules.parent / "numbers.csv")
    assert _issues(rules) == [
        f"{where}:3:1: duplicate number 4008001234",
        f"{where}:4:1: number '40080x' is not all digits",
        f"{where}:5:12: unknown operator 'acne'",
        f"{where}:6:17: unknown trunk 'acme-9'",
        f"{where}:7:17: number 4008001237 is filed for operator 'beta' but trunk 'acme-1' "
        "belongs to operator 'acme'",
        f"{where}:8:24: bad inbound 'maybe': expected true or false",
        f"{where}:9:36: bad valid_from '2026-13-01': expected a date YYYY-MM-DD",
        f"{where}:10:47: valid_until 2026-06-01 is before valid_from 2026-06-02",
        f"{where}:11:1: expected 8 fields, found 4",
    ]


def test_outbound_without_commitment_and_rules_errors_in_one_report(
    write_rules: Write, tmp_path: Path
) -> None:
    """A row checked against an operator without commitment, reported with the YAML's errors."""
    text = BASE.replace("outbound_commitment: true\n  beta", "outbound_commitment: false\n  beta")
    text = text.replace(INLINE, "numbers:\n  file: numbers.csv\n").replace(
        "2027-12-31", "2027-02-30", 1
    )
    (tmp_path / "numbers.csv").write_text(HEADER + "4008001234,acme,acme-1,true,true,,,\n")
    issues = _issues(write_rules(text))
    assert any("operators.acme.licence_expires" in i for i in issues)
    no_commitment = (
        "numbers.csv:2:29: number 4008001234 is outbound-enabled but operator 'acme' "
        "has no outbound_commitment"
    )
    assert any(i.endswith(no_commitment) for i in issues), issues


def test_missing_file_header_and_unknown_key(write_rules: Write, tmp_path: Path) -> None:
    """No file, a bad header and a mistyped key are clear located errors."""
    missing = write_rules(BASE.replace(INLINE, "numbers:\n  file: nope.csv\n"))
    assert _issues(missing)[0].endswith(
        "nope.csv:1:1: cannot read numbers file: No such file or directory"
    )
    bad = _file_rules(write_rules, tmp_path, ROWS, header="number,operator\n")
    assert "bad header 'number,operator'" in _issues(bad)[0]
    typo = write_rules(BASE.replace(INLINE, "numbers:\n  fil: numbers.csv\n"))
    assert any("unknown key 'fil' (did you mean 'file'?)" in i for i in _issues(typo))


def test_inline_period_is_validated(write_rules: Write) -> None:
    """valid_until before valid_from on an inline number is located at the number."""
    text = BASE.replace(
        'outbound: true}\n  - {number: "020',
        'outbound: true, valid_from: 2026-06-02, valid_until: 2026-06-01}\n  - {number: "020',
    )
    assert any(
        "valid_until 2026-06-01 is before valid_from 2026-06-02" in i
        for i in _issues(write_rules(text))
    )


@pytest.mark.parametrize("inline", [True, False])
def test_outside_the_period_the_number_is_not_filed(
    write_rules: Write, tmp_path: Path, *, inline: bool
) -> None:
    """Inclusive local dates: check 4 outbound and 14 inbound outside, with number_state."""
    if inline:
        text = BASE.replace(
            "trunk: acme-1, inbound: true, outbound: false}",
            f"trunk: acme-1, inbound: true, outbound: false, {PERIOD}}}",
        ).replace(
            "trunk: acme-1, inbound: true, outbound: true}",
            f"trunk: acme-1, inbound: true, outbound: true, {PERIOD}}}",
        )
        rules = load_rules(write_rules(text))
    else:
        body = ROWS.replace(",,\n", ",2026-06-01,2026-06-30\n", 2)
        rules = load_rules(_file_rules(write_rules, tmp_path, body))
    cases = [
        ("2026-05-31 23:59", NumberState.NOT_YET_VALID),
        ("2026-06-01 00:00", None),
        ("2026-06-30 23:59", None),
        ("2026-07-01 00:00", NumberState.EXPIRED),
    ]
    for when, state in cases:
        now = at(when).replace(hour=10) if state is None else at(when)
        outbound = evaluate(out(), rules, MemoryState(), now)
        inbound = evaluate(inc(), rules, MemoryState(), now)
        assert outbound.number == "4008001234" and inbound.number == "95123"
        assert outbound.number_state is state and inbound.number_state is state
        if state is None:
            assert outbound.reason is Reason.ALLOWED and inbound.reason is Reason.ALLOWED
        else:
            assert outbound.reason is Reason.CALLER_UNREGISTERED
            assert inbound.reason is Reason.CALLEE_UNREGISTERED
            assert outbound.to_json_dict(out(), "t")["number_state"] == state.value


@settings(max_examples=60, deadline=None)
@given(
    filed=st.sets(st.text("0123456789", min_size=1, max_size=6), min_size=1, max_size=12),
    probe=st.text("0123456789", min_size=1, max_size=7),
)
def test_length_related_equals_a_plain_scan(filed: set[str], probe: str) -> None:
    """The bisect over sorted NSNs answers as a scan of every filed number would."""
    from sipguard.policy.numbers import NumberEntry, NumberIndex

    index = NumberIndex(
        NumberEntry(n, "o", "t", inbound=True, outbound=False, usage=None, licence_until=0)
        for n in filed
    )
    plain = probe not in filed and any(
        n != probe and (n.startswith(probe) or probe.startswith(n)) for n in filed
    )
    assert index.length_related(probe) is plain


@settings(max_examples=60, deadline=None)
@given(
    st.tuples(
        *(st.text(max_size=4) for _ in range(3)),
        st.booleans(),
        st.booleans(),
        st.none() | st.text(max_size=4),
        *(st.integers(-1, 2**31) for _ in range(3)),
        st.none() | st.text(max_size=4),
    )
)
def test_a_positional_entry_equals_a_keyword_one(values: tuple[object, ...]) -> None:
    """``NumberEntry`` built positionally, as the CSV loader builds it, is the keyword-built
    entry: its hand-written ``__init__`` puts each value in its field."""
    import dataclasses

    from sipguard.policy.numbers import NumberEntry

    names = [f.name for f in dataclasses.fields(NumberEntry)]
    built = NumberEntry(*values)  # type: ignore[arg-type]
    made = NumberEntry(**dict(zip(names, values, strict=True)))  # type: ignore[arg-type]
    assert type(built) is NumberEntry and built == made and hash(built) == hash(made)
    assert repr(built) == repr(made)
    assert [getattr(built, f.name) for f in dataclasses.fields(NumberEntry)] == list(values)
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.nsn = "x"  # type: ignore[misc]


def test_an_optional_display_name_column(write_rules: Write, tmp_path: Path) -> None:
    """``display_name`` may be a ninth column: checked as inline, empty means none."""
    header = HEADER.rstrip("\n") + ",display_name\n"
    first, *rest = ROWS.splitlines()
    body = f"{first},Acme Care\n" + "".join(f"{row},\n" for row in rest)
    rules = load_rules(_file_rules(write_rules, tmp_path, body, header))
    assert rules.numbers.lookup("95123").display_name == "Acme Care"  # type: ignore[union-attr]
    assert rules.numbers.lookup("4008001234").display_name is None  # type: ignore[union-attr]
    quoted = body.replace("Acme Care", '"Acme ""Care"""')
    problems = _issues(_file_rules(write_rules, tmp_path, quoted, header))
    assert len(problems) == 1 and "numbers.csv:2:" in problems[0], problems
    assert "display_name" in problems[0]


def test_reading_in_tiny_chunks_gives_the_same_index_and_issues(
    write_rules: Write, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The large read chunk is only a speed setting: with 3-byte chunks (rows, multi-byte
    names and a bad row all cut across chunks) the entries and located issues are alike."""
    header = HEADER.rstrip("\n") + ",display_name\n"
    first, *rest = ROWS.splitlines()
    body = f"{first},客服中心\n" + "".join(f"{row},\n" for row in rest) + "95x,acme,acme-1,,,,,,\n"
    bad = _file_rules(write_rules, tmp_path, body, header)
    wide = _issues(bad)
    monkeypatch.setattr(numbers_csv, "_CHUNK", 3)
    assert _issues(bad) == wide and len(wide) == 1 and "numbers.csv:5:1" in wide[0]
    good = _file_rules(write_rules, tmp_path, body.rsplit("95x", 1)[0], header)
    tiny = load_rules(good).numbers.entries()
    monkeypatch.undo()
    assert load_rules(good).numbers.entries() == tiny
    assert len(tiny) == 3 and tiny[0].display_name == "客服中心"
