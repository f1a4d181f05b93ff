"""Fast shape checks: the common, plainly valid header values, recognised by one match each.

``classify`` uses these to accept an ordinary message without building any structured
value; a structured value is built only when someone reads it (and then memoised).

Invariants:
- each pattern accepts a subset of what the full parser accepts: whenever a pattern
  matches, the corresponding parser (``parse_via``, ``parse_address``, ``parse_uri``,
  ``parse_cseq``, ...) succeeds on the same text (pinned by tests/sip/test_shapes.py);
- a value a pattern rejects is not necessarily bad: the caller then runs the full
  validator, which decides (so the answer is always the full validator's answer);
- every quantifier is possessive or is followed by a character it cannot match, so each
  match costs time linear in the text, whatever the text.
"""

from __future__ import annotations

import re

_TOKEN = r"[A-Za-z0-9.!%*_+`'~\-]++"
_HOST = r"(?:\[[0-9A-Fa-f:.]++\]|[A-Za-z0-9.\-]++)"
_PORT = r"(?::(?:[1-5][0-9]{4}|[0-9]{1,4}))?"
_HVAL = r"[A-Za-z0-9.!%*_+`'~:\[\]@/\-]++"
_HPARAMS = rf"(?:[ \t]*+;[ \t]*+{_TOKEN}(?:[ \t]*+=[ \t]*+{_HVAL})?)*+[ \t]*+"
_UCHARS = r"A-Za-z0-9\-_.!~*'()&=+$"
_ESC = r"%[0-9A-Fa-f]{2}"
_USER = rf"(?:[{_UCHARS};?/]++|{_ESC})++"
_USER_BARE = rf"(?:[{_UCHARS}/]++|{_ESC})++"
_PASSWORD = rf"(?:[{_UCHARS}]++|{_ESC})*+"
_UP = rf"(?:[A-Za-z0-9\-_.!~*'()\[\]/:&+$]++|{_ESC})++"
_URI_PARAMS = rf"(?:;{_UP}(?:={_UP})?)*+"
_SIP = rf"sips?:(?:{_USER}(?::{_PASSWORD})?@)?{_HOST}{_PORT}{_URI_PARAMS}"
_SIP_BARE = rf"sips?:(?:{_USER_BARE}(?::{_PASSWORD})?@)?{_HOST}{_PORT}"
_TEL_NUM = r"tel:[A-Za-z0-9\-_.!~*'()\[\]/:&+$=#]++"
_TEL_PARAM = r"[A-Za-z0-9\-_.!~*'()\[\]/:&+$#]++"
_TEL = rf"{_TEL_NUM}(?:;{_TEL_PARAM}(?:={_TEL_PARAM})?)*+"
_DISPLAY = rf'(?:"(?:[^"\\\r\n]++|\\[^\r\n])*+"[ \t]*+|{_TOKEN}(?:[ \t]++{_TOKEN})*+[ \t]*+)?'
_NAME_ADDR = rf"{_DISPLAY}<(?:{_SIP}|{_TEL})>{_HPARAMS}"
_ADDR_SPEC = rf"(?:{_SIP_BARE}|{_TEL_NUM}){_HPARAMS}"
_ADDRESS = rf"(?:{_NAME_ADDR}|{_ADDR_SPEC})"
_VIA = rf"SIP/2\.0/{_TOKEN}[ \t]++{_HOST}{_PORT}(?:;{_TOKEN}(?:={_HVAL})?)*+"

#: One address (From, To): name-addr or addr-spec with header parameters.
ADDRESS = re.compile(rf"(?>{_ADDRESS})")
#: A comma list of addresses (Contact, P-Asserted-Identity, Route, ...).
ADDRESS_LIST = re.compile(rf"(?>{_ADDRESS})(?:[ \t]*+,[ \t]*+(?>{_ADDRESS}))*+")
#: One Via value.
VIA = re.compile(rf"(?>{_VIA})")
#: A comma list of Via values.
VIA_LIST = re.compile(rf"(?>{_VIA})(?:[ \t]*+,[ \t]*+(?>{_VIA}))*+")
#: A Request-URI of a scheme the B2BUA serves (sip, sips, tel).
REQUEST_URI = re.compile(rf"(?>{_SIP}|{_TEL})")
#: CSeq: a number below 10**9 and a method token.
CSEQ = re.compile(rf"([0-9]{{1,9}})[ \t]++({_TOKEN})")
#: What matching a response needs, in one match: its first Via field, CSeq, From and To
#: joined by CRLF (which no header value holds and none of the parts matches).
RESPONSE = re.compile(
    rf"(?>{_VIA})(?:[ \t]*+,[ \t]*+(?>{_VIA}))*+\r\n[0-9]{{1,9}}[ \t]++{_TOKEN}"
    rf"\r\n(?>{_ADDRESS})\r\n(?>{_ADDRESS})"
)
#: Max-Forwards: at most three digits (the range is checked by the caller).
MAX_FORWARDS = re.compile(r"[0-9]{1,3}")
#: White space anywhere (a Call-ID must hold none).
SPACE = re.compile(r"\s")
