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
info "saga-record-mac-v1" NUL <your key id> NUL <reader key id>, 32 bytes).
Needs the `cryptography` package (pip install cryptography).
"""
import argparse
import base64
import hashlib
import hmac
import json
import struct
import sys
from datetime import datetime, timezone

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SIGNED = ["id", "type", "version", "saga_id", "correlation_id", "causation_id", "actor", "occurred_at"]


def signed_bytes(topic, key, headers, payload):
    out = b""
    for field in [b"saga-record-v1", topic.encode(), key.encode()] + [headers.get(h, "").encode() for h in SIGNED] + [payload]:
        out += struct.pack(">I", len(field)) + field
    return out


def b64(s):
    return base64.b64decode(s + "=" * (-len(s) % 4))


def sign(key_file, keyring_file, readers, topic, key, headers, payload):
    with open(key_file) as f:
        me = json.load(f)
    with open(keyring_file) as f:
        ring = json.load(f)["keys"]
    priv = X25519PrivateKey.from_private_bytes(b64(me["private_key"]))
    msg = signed_bytes(topic, key, headers, payload)
    now = datetime.now(timezone.utc)
    out = {"sig_kid": me["kid"]}
    for k in ring:
        if k["principal"] not in readers:
            continue
        if k.get("not_after") and datetime.fromisoformat(k["not_after"].replace("Z", "+00:00")) < now:
            continue
        shared = priv.exchange(X25519PublicKey.from_public_bytes(b64(k["public_key"])))
        info = b"saga-record-mac-v1\x00" + me["kid"].encode() + b"\x00" + k["kid"].encode()
        pair = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(shared)
        mac = hmac.new(pair, hashlib.sha256(msg).digest(), hashlib.sha256).digest()[:16]
        out["sig." + k["kid"]] = base64.b64encode(mac).decode().rstrip("=")
    return out


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
