#!/usr/bin/env python3
"""Book seats through the saga HTTP API, with Python's standard library only.

    TOKEN=$(saga token issue --sub alice --role customer)
    python3 examples/book.py --token "$TOKEN" --show show-1 --seats 2 --payment-token tok_ok

Prints the booking as JSON and exits 0 when it completed, 1 when it did not,
2 on a bad argument or an error answer (problem+json, shown on stderr).
"""
import argparse
import json
import sys
import time
import urllib.error
import urllib.request
import uuid


def call(base, method, path, token=None, body=None, headers=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=90) as resp:
            return resp.status, dict(resp.headers), json.load(resp)
    except urllib.error.HTTPError as e:
        problem = json.load(e) if e.headers.get("Content-Type") == "application/problem+json" else {}
        return e.code, dict(e.headers), problem


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--url", default="http://127.0.0.1:8080")
    p.add_argument("--token", required=True)
    p.add_argument("--show", required=True)
    p.add_argument("--seats", type=int, required=True)
    p.add_argument("--payment-token", required=True)
    p.add_argument("--idempotency-key", default=str(uuid.uuid4()), help="repeat it to retry safely")
    p.add_argument("--wait", type=int, default=30, help="seconds the server may take to finish (Prefer: wait)")
    a = p.parse_args()

    body = {"show_id": a.show, "seats": a.seats, "payment_token": a.payment_token}
    headers = {"Idempotency-Key": a.idempotency_key, "Prefer": "wait=%d" % a.wait}
    status, hdrs, booking = call(a.url, "POST", "/v1/bookings", a.token, body, headers)
    if status not in (201, 202):
        print("booking refused: %d %s" % (status, json.dumps(booking)), file=sys.stderr)
        return 2
    # 202: the saga is still running; follow its Location until it ends.
    location = hdrs.get("Location")
    deadline = time.time() + a.wait
    while booking["status"] == "running" and time.time() < deadline:
        time.sleep(0.2)
        status, _, booking = call(a.url, "GET", location, a.token)
        if status != 200:
            print("reading %s: %d %s" % (location, status, json.dumps(booking)), file=sys.stderr)
            return 2
    print(json.dumps(booking))
    return 0 if booking["status"] == "completed" else 1


if __name__ == "__main__":
    sys.exit(main())
