#!/usr/bin/env python3
"""Sign a record for saga, as its parts do, so a client in any language can post one.

    python3 examples/sign.py --key-file .saga/keys/client.key --topic saga.requests \
        --record-key "$SAGA" -H id=... -H type=StartSaga -H version=1 ... < payload.json

Prints the two headers to add to the record, one per line: sig=... and sig_kid=...
The signature is Ed25519 over length-prefixed fields (each a 4-byte big-endian length, then
its bytes): "saga-record-v1", the topic, the record key, the headers id, type, version,
saga_id, correlation_id, causation_id, actor and occurred_at (absent ones empty), and the
payload. Needs the `cryptography` package (pip install cryptography).
"""
import argparse
import base64
import json
import struct
import sys

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

SIGNED = ["id", "type", "version", "saga_id", "correlation_id", "causation_id", "actor", "occurred_at"]


def signed_bytes(topic, key, headers, payload):
    out = b""
    for field in [b"saga-record-v1", topic.encode(), key.encode()] + [headers.get(h, "").encode() for h in SIGNED] + [payload]:
        out += struct.pack(">I", len(field)) + field
    return out


def sign(key_file, topic, key, headers, payload):
    with open(key_file) as f:
        k = json.load(f)
    priv = Ed25519PrivateKey.from_private_bytes(base64.b64decode(k["private_key"]))
    sig = priv.sign(signed_bytes(topic, key, headers, payload))
    return base64.b64encode(sig).decode().rstrip("="), k["kid"]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--key-file", required=True, help="the principal's key file, e.g. .saga/keys/client.key")
    p.add_argument("--topic", required=True, help="the topic as written, namespace prefix included")
    p.add_argument("--record-key", default="", help="the record's key")
    p.add_argument("-H", dest="headers", action="append", default=[], help="a header, name=value")
    a = p.parse_args()
    headers = dict(h.split("=", 1) for h in a.headers)
    sig, kid = sign(a.key_file, a.topic, a.record_key, headers, sys.stdin.buffer.read())
    print("sig=" + sig)
    print("sig_kid=" + kid)


if __name__ == "__main__":
    main()
