"""Sans-IO SIP message core: parsing, serialising, framing and validation (RFC 3261).

This package imports nothing from the rest of sipguard except ``sipguard.errors``.
"""

from sipguard.sip.address import Address, parse_address
from sipguard.sip.dialog import Dialog, DialogId, dialog_id_of
from sipguard.sip.framing import StreamFramer
from sipguard.sip.headers import Headers
from sipguard.sip.message import CSeq, Message, Request, Response
from sipguard.sip.timers import Timer, TimerConfig
from sipguard.sip.transaction import (
    Kind,
    Transaction,
    TransactionError,
    TxState,
    client_key,
    server_key,
)
from sipguard.sip.uri import AbsoluteUri, SipUri, TelUri, Uri, parse_uri
from sipguard.sip.validate import Outcome, classify, validate_request, validate_response
from sipguard.sip.via import Via, parse_via
from sipguard.sip.wire import parse, serialise

__all__ = [
    "AbsoluteUri",
    "Address",
    "CSeq",
    "Dialog",
    "DialogId",
    "Headers",
    "Kind",
    "Message",
    "Outcome",
    "Request",
    "Response",
    "SipUri",
    "StreamFramer",
    "TelUri",
    "Timer",
    "TimerConfig",
    "Transaction",
    "TransactionError",
    "TxState",
    "Uri",
    "Via",
    "classify",
    "client_key",
    "dialog_id_of",
    "parse",
    "parse_address",
    "parse_uri",
    "parse_via",
    "serialise",
    "server_key",
    "validate_request",
    "validate_response",
]
