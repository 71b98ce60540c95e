"""RFC 8785 (JCS) encoding and message digests, checked against the RFC's own examples."""

from __future__ import annotations

import json
import struct
from typing import Any

import pytest

from federation.canonical import decode, digest, encode
from federation.errors import SchemaError
from federation.jsonbounds import parse_json


def f64(bits: int) -> float:
    return float(struct.unpack(">d", bits.to_bytes(8, "big"))[0])


# -- RFC 8785 examples ----------------------------------------------------------------------------
def test_rfc8785_section_3_2_2_example() -> None:
    text = r"""{
      "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
      "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
      "literals": [null, true, false]
    }"""
    expected = r"""{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"""  # noqa: E501
    assert encode(json.loads(text)) == expected.encode()


def test_rfc8785_section_3_2_3_sorts_keys_by_utf16_code_units() -> None:
    # U+1F600 is the surrogate pair D83D DE00, so it sorts *before* U+FB33 (by code point it
    # would come after).
    doc = {"\u20ac": "Euro Sign", "\r": "Carriage Return",
           "\ufb33": "Hebrew Letter Dalet With Dagesh", "1": "One",
           "\U0001f600": "Emoji: Grinning Face", "\u0080": "Control",
           "\u00f6": "Latin Small Letter O With Diaeresis"}
    expected = ('{"\\r":"Carriage Return","1":"One","\u0080":"Control",'
                '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",'
                '"\U0001f600":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}')
    assert encode(doc) == expected.encode("utf-8")


# RFC 8785 Appendix B, "Number Serialization Samples" (the finite ones).
@pytest.mark.parametrize(("bits", "text"), [
    (0x0000000000000000, "0"),
    (0x8000000000000000, "0"),
    (0x0000000000000001, "5e-324"),
    (0x8000000000000001, "-5e-324"),
    (0x7FEFFFFFFFFFFFFF, "1.7976931348623157e+308"),
    (0xFFEFFFFFFFFFFFFF, "-1.7976931348623157e+308"),
    (0x4340000000000000, "9007199254740992"),
    (0xC340000000000000, "-9007199254740992"),
    (0x4430000000000000, "295147905179352830000"),
    (0x44B52D02C7E14AF5, "9.999999999999997e+22"),
    (0x44B52D02C7E14AF6, "1e+23"),
    (0x44B52D02C7E14AF7, "1.0000000000000001e+23"),
    (0x444B1AE4D6E2EF4E, "999999999999999700000"),
    (0x444B1AE4D6E2EF4F, "999999999999999900000"),
    (0x444B1AE4D6E2EF50, "1e+21"),
    (0x3EB0C6F7A0B5ED8C, "9.999999999999997e-7"),
    (0x3EB0C6F7A0B5ED8D, "0.000001"),
    (0x41B3DE4355555553, "333333333.3333332"),
    (0x41B3DE4355555554, "333333333.33333325"),
    (0x41B3DE4355555555, "333333333.3333333"),
    (0x41B3DE4355555556, "333333333.3333334"),
    (0x41B3DE4355555557, "333333333.33333343"),
    (0xBECBF647612F3696, "-0.0000033333333333333333"),
    (0x43143FF3C1CB0959, "1424953923781206.2"),
])
def test_rfc8785_appendix_b_numbers(bits: int, text: str) -> None:
    assert encode({"n": f64(bits)}) == b'{"n":' + text.encode() + b"}"


@pytest.mark.parametrize("bits", [0x7FFFFFFFFFFFFFFF, 0x7FF0000000000000, 0xFFF0000000000000])
def test_nan_and_infinity_cannot_be_encoded(bits: int) -> None:
    # RFC 8785 Appendix B: NaN and Infinity are errors.
    with pytest.raises(SchemaError, match=r"^\$: cannot be canonically encoded"):
        encode({"n": f64(bits)})


# -- behaviour Beacon relies on -------------------------------------------------------------------
@pytest.mark.parametrize(("value", "text"), [
    (1.0, b"1"), (-0.0, b"0"), (4.50, b"4.5"), (2e-3, b"0.002"), (1e21, b"1e+21"),
    (1e20, b"100000000000000000000"), (1e-7, b"1e-7"), (0.1 + 0.2, b"0.30000000000000004"),
    (2**53 - 1, b"9007199254740991"), (-(2**53 - 1), b"-9007199254740991"),
])
def test_numbers_use_the_es6_form(value: float, text: bytes) -> None:
    assert encode(value) == text


def test_integer_and_float_of_the_same_value_encode_alike() -> None:
    assert encode({"revision": 1}) == encode({"revision": 1.0}) == b'{"revision":1}'


@pytest.mark.parametrize("value", [2**53, -(2**53), 10**30])
def test_integers_outside_the_ijson_range_are_refused(value: int) -> None:
    with pytest.raises(SchemaError, match="cannot be canonically encoded"):
        encode({"n": value})


def test_keys_are_sorted_at_every_level_without_whitespace() -> None:
    doc = {"b": [{"z": 1, "a": 2}], "a": {"d": True, "c": None}}
    assert encode(doc) == b'{"a":{"c":null,"d":true},"b":[{"a":2,"z":1}]}'


def test_insertion_order_does_not_matter() -> None:
    one = {"title": "x", "origin": "gb", "harm_types": ["physical", "economic-property"]}
    two = dict(reversed(list(one.items())))
    assert list(one) != list(two)
    assert encode(one) == encode(two)


def test_array_order_is_kept() -> None:
    assert encode(["b", "a"]) == b'["b","a"]'


def test_non_ascii_text_is_utf8_not_escaped() -> None:
    assert encode({"t": "é€😀"}) == '{"t":"é€😀"}'.encode()


def test_control_characters_use_the_short_escapes_where_json_has_them() -> None:
    doc = {"s": "\u0000\u0008\u0009\u000a\u000c\u000d\u001f\u007f\"\\/"}
    assert encode(doc) == b'{"s":"\\u0000\\b\\t\\n\\f\\r\\u001f\x7f\\"\\\\/"}'


@pytest.mark.parametrize("value", [{1, 2}, b"bytes", object(), {1: "non-string key"}])
def test_values_json_cannot_carry_are_refused(value: Any) -> None:
    with pytest.raises(SchemaError, match=r"^\$: cannot be canonically encoded"):
        encode(value)


# -- digests --------------------------------------------------------------------------------------
@pytest.mark.parametrize(("body", "hexdigest"), [
    # FIPS 180-2 / NIST SHA-256 examples.
    (b"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    (b"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
])
def test_digest_is_lowercase_hex_sha256(body: bytes, hexdigest: str) -> None:
    assert digest(body) == hexdigest


def test_equal_documents_have_one_digest() -> None:
    one = {"type": "incident", "origin": "gb", "revision": 1, "score": 2.0}
    two = {"score": 2, "revision": 1.0, "origin": "gb", "type": "incident"}
    assert digest(encode(one)) == digest(encode(two))


def test_any_change_changes_the_digest() -> None:
    base = {"type": "incident", "origin": "gb", "revision": 1}
    assert digest(encode(base)) != digest(encode({**base, "revision": 2}))
    assert digest(encode(base)) != digest(encode({**base, "extra": None}))


def test_digest_is_over_bytes_not_over_meaning() -> None:
    # The same JSON with a space is a different message: only the signed bytes are identity.
    assert digest(b'{"a":1}') != digest(b'{"a": 1}')


# -- decode ---------------------------------------------------------------------------------------
def test_decode_inverts_encode() -> None:
    doc = {"t": "é", "n": [1, 2.5, None, True], "o": {"k": "v"}}
    assert decode(encode(doc)) == doc


@pytest.mark.parametrize("body", [b"", b"{", b"not json", b'"\xff"'])
def test_decode_refuses_bytes_that_are_not_json(body: bytes) -> None:
    with pytest.raises(SchemaError, match=r"^\$: payload is not JSON"):
        decode(body)


@pytest.mark.parametrize("value", [1e20, 2e20, -6.466345310498835e16, 9.007199254740994e15,
                                   3e25, 1e21])
def test_every_double_the_encoder_writes_parses_back_strictly(value: float) -> None:
    """JCS writes doubles below 10**21 without an exponent (2e20 as 21 digits); a peer's strict
    parser once refused such a body as an unsafe integer, quarantining a compute figure every
    node had signed (found by tests/pipeline/test_schema_fuzz_inprocess.py)."""
    body = encode({"training_compute_flop": value})
    assert parse_json(body, strict=True) == {"training_compute_flop": value}


@pytest.mark.parametrize("literal", ["9007199254740993", "64663453104988352",
                                     "123456789012345678901"])
def test_an_integer_no_double_is_written_as_is_still_refused(literal: str) -> None:
    with pytest.raises(SchemaError, match="not how RFC 8785 writes any double"):
        parse_json('{"n": ' + literal + "}", strict=True)
