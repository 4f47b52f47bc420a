#!/usr/bin/env python3
"""Sign a record for saga, as its parts do, so a client in any language can post one.

    python3 examples/sign.py --key-file .saga/keys/client.key --keyring .saga/keys/keyring.json \
        --reader orchestrator --topic saga.requests --record-key "$SAGA" \
        -H id=... -H type=StartSaga -H version=1 ... < payload.json

Prints the headers to add to the record, one per line: sig_kid=<your key id>, and
sig.<reader key id>=<signature> for each key of each reader.

The signed bytes are length-prefixed fields (each a 4-byte big-endian length, then its
bytes): "saga-record-v1", the topic, the record key, the headers id, type, version, saga_id,
correlation_id, causation_id, actor and occurred_at (absent ones empty), and the payload.
The signature for one reader key is HMAC-SHA256 of their SHA-256, its first 16 bytes, base64
without padding,
under the pair key HKDF-SHA256(X25519(your private key, the reader's public key), no salt,
info "saga-record-mac-v1" NUL <writer key id> NUL <reader key id>, 32 bytes).
A reader checks a record by deriving the same pair key from its own private key and the
writer's public key (X25519 agrees either way round).
Needs the `cryptography` package (pip install cryptography).

Other programs import it: load_key, load_keyring, sign_record and verify_record are the
scheme for a participant that signs what it writes and checks what it reads
(examples/hotel/hotel.py).
"""
import argparse
import base64
import hashlib
import hmac
import json
import re
import struct
import sys
from datetime import datetime, timezone

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SIGNED = ["id", "type", "version", "saga_id", "correlation_id", "causation_id", "actor", "occurred_at"]

# The header naming the writer's key, and the prefix of each reader key's signature.
HEADER_KEY_ID = "sig_kid"
HEADER_SIGNATURE_PREFIX = "sig."

# The codes a refused record's dead-letter reason starts with (events/errors.go).
UNSIGNED = "unsigned"
BAD_SIGNATURE = "bad_signature"
SIGNER_NOT_ALLOWED = "signer_not_allowed"


class Refused(Exception):
    """A record whose signature does not show who wrote it: code is unsigned or bad_signature."""

    def __init__(self, code, detail):
        super().__init__(code + ": " + detail)
        self.code = code
        self.detail = detail


def signed_bytes(topic, key, headers, payload):
    """The bytes a signature covers, length-prefixed so no two records sign the same bytes."""
    out = b""
    for field in [b"saga-record-v1", topic.encode(), key.encode()] + [headers.get(h, "").encode() for h in SIGNED] + [payload]:
        out += struct.pack(">I", len(field)) + field
    return out


def b64(s):
    """Decodes base64 with or without its padding, as Go's JSON writes and the headers carry it."""
    return base64.b64decode(s + "=" * (-len(s) % 4))


def load_key(path):
    """Reads a principal's private key file (kid, principal, private_key)."""
    with open(path) as f:
        me = json.load(f)
    return {"kid": me["kid"], "principal": me["principal"],
            "private": X25519PrivateKey.from_private_bytes(b64(me["private_key"]))}


def parse_time(s):
    """An RFC 3339 time as Go writes it (up to nanoseconds, Z or an offset); Python's
    fromisoformat reads at most microseconds before 3.11, so the fraction is cut to six digits."""
    s = re.sub(r"(\.\d{6})\d+", r"\1", s.replace("Z", "+00:00"))
    return datetime.fromisoformat(s)


def load_keyring(path):
    """Reads the keyring: every part's public keys, by id, with the time each is retired (None: never)."""
    with open(path) as f:
        ring = json.load(f)["keys"]
    out = {}
    for k in ring:
        end = k.get("not_after")
        out[k["kid"]] = {"kid": k["kid"], "principal": k["principal"], "public": b64(k["public_key"]),
                         "not_after": parse_time(end) if end else None}
    return out


def retired(key, at):
    """Whether a keyring key is past its end at time at: it signs nothing new then."""
    return key["not_after"] is not None and key["not_after"] < at


def pair_key(private, their_public, writer_kid, reader_kid):
    """The key only the writer and this one reader can compute, for records the writer signs."""
    shared = private.exchange(X25519PublicKey.from_public_bytes(their_public))
    info = b"saga-record-mac-v1\x00" + writer_kid.encode() + b"\x00" + reader_kid.encode()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(shared)


def mac(pair, digest):
    """A signature: HMAC-SHA256 of the signed bytes' digest, 128 bits, base64 without padding."""
    return base64.b64encode(hmac.new(pair, digest, hashlib.sha256).digest()[:16]).decode().rstrip("=")


def sign_record(me, ring, readers, topic, key, headers, payload, now=None):
    """The headers that sign a record written by me for every valid key of each reader principal.

    A reader without a valid key is an error, as in Go: the record would be refused by it."""
    now = now or datetime.now(timezone.utc)
    digest = hashlib.sha256(signed_bytes(topic, key, headers, payload)).digest()
    out = {HEADER_KEY_ID: me["kid"]}
    for reader in readers:
        found = False
        for k in ring.values():
            if k["principal"] != reader or retired(k, now):
                continue
            out[HEADER_SIGNATURE_PREFIX + k["kid"]] = mac(pair_key(me["private"], k["public"], me["kid"], k["kid"]), digest)
            found = True
        if not found:
            raise ValueError("the keyring has no valid key of %s, who reads %s" % (reader, topic))
    return out


def verify_record(me, ring, topic, key, headers, payload, at=None):
    """Checks a record's signature for me and returns the principal that signed it.

    Raises Refused (unsigned or bad_signature) as the Go parts' sign.Verify refuses; whether
    that principal may write the topic is the caller's rule."""
    at = at or datetime.now(timezone.utc)
    typ = headers.get("type", "")
    kid = headers.get(HEADER_KEY_ID, "")
    sig = headers.get(HEADER_SIGNATURE_PREFIX + me["kid"], "")
    if not kid and not sig:
        raise Refused(UNSIGNED, "%s on %s carries no signature" % (typ, topic))
    writer = ring.get(kid)
    if writer is None:
        raise Refused(BAD_SIGNATURE, '%s on %s: bad signature: key "%s" is not trusted' % (typ, topic, kid))
    if retired(writer, at):
        raise Refused(BAD_SIGNATURE, "%s on %s: bad signature: key %s of %s was retired" % (typ, topic, kid, writer["principal"]))
    if not sig:
        raise Refused(BAD_SIGNATURE, "%s on %s: bad signature: %s signed it for other readers than %s (key %s)"
                      % (typ, topic, writer["principal"], me["principal"], me["kid"]))
    digest = hashlib.sha256(signed_bytes(topic, key, headers, payload)).digest()
    want = mac(pair_key(me["private"], writer["public"], kid, me["kid"]), digest)
    if not hmac.compare_digest(sig.encode(), want.encode()):
        raise Refused(BAD_SIGNATURE, "%s on %s: bad signature: the record is not what key %s of %s signed"
                      % (typ, topic, kid, writer["principal"]))
    return writer["principal"]


def sign(key_file, keyring_file, readers, topic, key, headers, payload):
    """The command line's signing: readers without a valid key are left out, not refused."""
    me = load_key(key_file)
    ring = load_keyring(keyring_file)
    now = datetime.now(timezone.utc)
    present = [r for r in readers if any(k["principal"] == r and not retired(k, now) for k in ring.values())]
    return sign_record(me, ring, present, topic, key, headers, payload, now)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--key-file", required=True, help="your principal's key file, e.g. .saga/keys/client.key")
    p.add_argument("--keyring", required=True, help="the keyring, e.g. .saga/keys/keyring.json")
    p.add_argument("--reader", action="append", required=True, help="a principal that reads the topic (saga.requests: orchestrator)")
    p.add_argument("--topic", required=True, help="the topic as written, namespace prefix included")
    p.add_argument("--record-key", default="", help="the record's key")
    p.add_argument("-H", dest="headers", action="append", default=[], help="a header, name=value")
    a = p.parse_args()
    headers = dict(h.split("=", 1) for h in a.headers)
    for name, value in sign(a.key_file, a.keyring, a.reader, a.topic, a.record_key, headers, sys.stdin.buffer.read()).items():
        print(name + "=" + value)


if __name__ == "__main__":
    main()
