"""Sans-IO SIP message core: parsing, serialising, framing and validation (RFC 3261).

This package imports nothing from the rest of sipguard except ``sipguard.errors``.
"""

from sipguard.sip.address import Address, parse_address
from sipguard.sip.framing import StreamFramer
from sipguard.sip.headers import Headers
from sipguard.sip.message import CSeq, Message, Request, Response
from sipguard.sip.uri import AbsoluteUri, SipUri, TelUri, Uri, parse_uri
from sipguard.sip.validate import Outcome, classify, validate_request, validate_response
from sipguard.sip.via import Via, parse_via
from sipguard.sip.wire import parse, serialise

__all__ = [
    "AbsoluteUri",
    "Address",
    "CSeq",
    "Headers",
    "Message",
    "Outcome",
    "Request",
    "Response",
    "SipUri",
    "StreamFramer",
    "TelUri",
    "Uri",
    "Via",
    "classify",
    "parse",
    "parse_address",
    "parse_uri",
    "parse_via",
    "serialise",
    "validate_request",
    "validate_response",
]
