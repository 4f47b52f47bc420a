#!/usr/bin/env python3
"""The hotel: a saga participant written in Python, outside the saga binary.

It consumes hotel.commands (ReserveRoom, and its compensation ReleaseRoom), keeps its
reservations in SQLite, appends its domain events to hotel.events and replies on
saga.replies, as the Go participants do (participants/participant/runtime.go):

- every command is checked before anything acts on it: signed by the orchestrator (or the
  hotel itself) for the hotel's key, well formed, of a type the hotel handles; a record
  that fails is moved to saga.dlq with the reason in its headers and never blocks its
  partition;
- a command is applied at most once: its id, its reply and its domain event are stored
  in the same SQLite transaction as its effect, so a repeated command id gets the
  original reply and has no second effect;
- the Kafka offset of a command is committed only after that transaction and after the
  broker has acknowledged the domain event and then the reply, so a kill between any
  two lines loses nothing: the command is read again, and finds its stored answer.

Run it next to `saga up` (see README.md):

    python3 examples/hotel/hotel.py --data-dir .saga --db hotel.db
"""
import argparse
import json
import logging
import os
import re
import signal
import sqlite3
import sys
import time
import uuid
from datetime import datetime, timezone

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer

# The record signature scheme lives in examples/sign.py, beside this directory. Importing
# it writes no bytecode cache, so running the example leaves the source tree as it was.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.dont_write_bytecode = True
import sign  # noqa: E402

SERVICE = "hotel"
RESERVE_ROOM = "ReserveRoom"
RELEASE_ROOM = "ReleaseRoom"

# The hotel's domain events, on hotel.events.
ROOM_RESERVED = "RoomReserved"
ROOM_REFUSED = "RoomRefused"
ROOM_RELEASED = "RoomReleased"

# The product's topics (events/topics.go) and principals (events/principals.go).
COMMANDS = SERVICE + ".commands"
DOMAIN = SERVICE + ".events"
REPLIES = "saga.replies"
DLQ = "saga.dlq"
ORCHESTRATOR = "orchestrator"
CLIENT = "client"

# Who may sign a command the hotel obeys: the orchestrator, or the hotel forwarding one.
COMMAND_WRITERS = (ORCHESTRATOR, SERVICE)
# Who checks what the hotel writes, and so gets a signature (events.ReadersOf): the
# orchestrator reads the replies, and the client too (a definition's dry run replays
# them); the hotel and the read models (the client's key) read the hotel's own log.
READERS = {REPLIES: [ORCHESTRATOR, CLIENT], DOMAIN: [SERVICE, CLIENT]}

# The namespace of every derived id (events/ids.go): a reply to a command, or the event
# it caused, has the same id however often it is written, in any language.
ID_NAMESPACE = uuid.UUID("6f1c2a52-1d0b-4a57-9a53-5f0c3e2b9d11")

MAX_PAYLOAD_BYTES = 512 << 10  # events.MaxPayloadBytes
MAX_NIGHTS = 30

SUCCEEDED, FAILED = "succeeded", "failed"

# The headers watermill's poison queue adds to a dead letter (readmodel/dlq.go), and
# where the record was read (bus/marshaler.go).
REASON_HEADER = "reason_poisoned"
ORIGIN_HEADERS = ("kafka_topic", "kafka_partition", "kafka_offset")

RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")

log = logging.getLogger("hotel")


class Malformed(Exception):
    """A command that no retry makes processable: it goes to the dead-letter topic."""

    def __init__(self, reason):
        super().__init__("malformed message: " + reason)


def derived_id(cause_id, role):
    """events.DerivedID: the id of a message caused by another, stable across redeliveries."""
    return str(uuid.uuid5(ID_NAMESPACE, role + ":" + cause_id))


def rfc3339(t):
    """A UTC time as Go's time.RFC3339Nano writes it: trailing zeros of the fraction dropped."""
    s = t.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    if t.microsecond:
        s += ("." + "%06d" % t.microsecond).rstrip("0")
    return s + "Z"


def topic(namespace, name):
    """The topic's name on the cluster: tests and shared clusters prefix a namespace."""
    return namespace + "." + name if namespace else name


# --- reading a command ---------------------------------------------------------------


def headers_of(msg):
    """A record's headers as a dict; the last of a repeated header wins, as in Go."""
    return {k: (v or b"").decode("utf-8", "replace") for k, v in (msg.headers() or [])}


def check_headers(h):
    """The envelope checks of events.FromHeaders, before the signature is looked at."""
    if not h.get("id"):
        raise Malformed('missing header "id"')
    if not h.get("type"):
        raise Malformed('missing header "type"')
    v = h.get("version", "")
    if not v.isdigit() or int(v) < 1:
        raise Malformed('header "version" must be a positive integer, got "%s"' % v)
    at = h.get("occurred_at", "")
    if at and not RFC3339.match(at):
        raise Malformed('header "occurred_at" is not an RFC 3339 time: "%s"' % at)


def check_signature(cfg, msg, h):
    """Only the orchestrator (or the hotel, forwarding) may command the hotel.

    Raises sign.Refused with the codes the Go parts use (bus/verify.go)."""
    key = (msg.key() or b"").decode("utf-8", "replace")
    signer = sign.verify_record(cfg.key, cfg.ring, msg.topic(), key, h, msg.value() or b"")
    if signer not in COMMAND_WRITERS:
        raise sign.Refused(sign.SIGNER_NOT_ALLOWED, "%s may not write %s on %s" % (signer, h.get("type", ""), msg.topic()))
    return signer


def decode_command(h, payload):
    """A CommandV1 payload (events/commands.go), checked as events.CheckAs checks it."""
    typ = h["type"]
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise Malformed("payload of %d bytes is over the limit of %d bytes" % (len(payload), MAX_PAYLOAD_BYTES))
    if typ not in (RESERVE_ROOM, RELEASE_ROOM):
        raise Malformed('unknown type "%s"' % typ)
    if int(h["version"]) > 1:
        raise Malformed("%s version %s is newer than this build reads (1)" % (typ, h["version"]))
    if not payload.strip():
        raise Malformed("empty payload")
    try:
        p = json.loads(payload)
    except ValueError as e:
        raise Malformed("payload is not valid JSON for events.CommandV1: %s" % e)
    if not isinstance(p, dict):
        raise Malformed("payload is not valid JSON for events.CommandV1: not an object")
    problems = []
    if not isinstance(p.get("step"), str) or not p["step"]:
        problems.append("step is required")
    if not isinstance(p.get("attempt"), int) or isinstance(p.get("attempt"), bool) or p["attempt"] < 1:
        problems.append("attempt must be at least 1, got %s" % json.dumps(p.get("attempt")))
    if not isinstance(p.get("data"), dict):
        problems.append("data must be a JSON object")
    if problems:
        raise Malformed("invalid events.CommandV1: " + "\n".join(problems))
    if not h.get("saga_id"):
        raise Malformed("command without saga_id header")
    return p


def stay(data):
    """The saga data the hotel reads: whose booking, and for how many nights."""
    ref = data.get("booking_ref")
    if not isinstance(ref, str) or not ref:
        raise Malformed("booking_ref is required")
    user = data.get("user_id", "")
    if not isinstance(user, str):
        raise Malformed("user_id must be a string")
    nights = data.get("nights", 1)
    if not isinstance(nights, int) or isinstance(nights, bool) or not 1 <= nights <= MAX_NIGHTS:
        raise Malformed("nights must be between 1 and %d, got %s" % (MAX_NIGHTS, json.dumps(nights)))
    return ref, user, nights


# --- the hotel's data ----------------------------------------------------------------

SCHEMA = """
CREATE TABLE IF NOT EXISTS reservations (
    booking_ref TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL,
    room        INTEGER,            -- NULL once released, and for a release that came first
    nights      INTEGER NOT NULL,
    status      TEXT NOT NULL,      -- reserved | released
    updated_at  TEXT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS one_booking_per_room ON reservations(room) WHERE status = 'reserved';
CREATE TABLE IF NOT EXISTS handled (
    command_id  TEXT PRIMARY KEY,
    command     TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    event       TEXT NOT NULL,      -- the domain event: key, headers, payload (unsigned)
    reply       TEXT NOT NULL,      -- the reply, likewise
    published   INTEGER NOT NULL DEFAULT 0,  -- 1 once the broker acknowledged both
    handled_at  TEXT NOT NULL
);
"""


def open_db(path):
    """The hotel's SQLite database; transactions are begun by hand (BEGIN IMMEDIATE).

    WAL lets a reader look while the hotel writes; synchronous=FULL makes a committed
    transaction survive a power cut, not only a killed process."""
    db = sqlite3.connect(path, isolation_level=None, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.executescript(SCHEMA)
    return db


def record(key, headers, payload):
    """A record to write, stored as JSON text so a redelivered command writes it again byte for byte."""
    return {"key": key, "headers": headers, "payload": json.dumps(payload, separators=(",", ":"))}


def envelope_headers(typ, msg_id, cmd, at):
    """The headers of a message caused by cmd (events.TraceOf): same saga, booking, actor and trace."""
    h = {"id": msg_id, "type": typ, "version": "1", "occurred_at": rfc3339(at), "causation_id": cmd["id"]}
    # The trace context goes on too (unsigned), so the booking's trace shows the hotel's answer.
    for name in ("saga_id", "correlation_id", "actor", "traceparent", "tracestate"):
        if cmd.get(name):
            h[name] = cmd[name]
    return h


def decide(db, cmd, command, rooms, now):
    """What a new command does, written in the caller's transaction: the effect on the
    reservations, and the domain event and reply that answer it."""
    ref, user, nights = stay(command["data"])
    row = db.execute("SELECT room, status FROM reservations WHERE booking_ref = ?", (ref,)).fetchone()
    if cmd["type"] == RESERVE_ROOM:
        typ, outcome, reason, room = reserve(db, row, ref, user, nights, rooms, now)
    else:
        typ, outcome, reason, room = release(db, row, ref, user, nights, now)
    handled = {"command_id": cmd["id"], "outcome": outcome}
    if reason:
        handled["reason"] = reason
    if typ == ROOM_RESERVED:
        handled["reply"] = {"hotel_room": room}
    event = dict(handled, booking_ref=ref, user_id=user, nights=nights)
    if room is not None:
        event["room"] = room
    reply = {"command_id": cmd["id"], "command": cmd["type"], "outcome": outcome}
    if reason:
        reply["reason"] = reason
    if "reply" in handled:
        reply["data"] = handled["reply"]
    # The event is keyed as the command was (the declaration's key field), as the Go runtime keys it.
    ev = record(cmd["key"] or ref, envelope_headers(typ, derived_id(cmd["id"], "event"), cmd, now), event)
    rp = record(cmd["saga_id"], envelope_headers("StepReply", derived_id(cmd["id"], "reply"), cmd, now), reply)
    return outcome, ev, rp


def reserve(db, row, ref, user, nights, rooms, now):
    """Holds one room per booking: a retry of a held booking gets its room again; a booking
    released before (a release that overtook its reservation) is refused, as the Go booking
    service refuses seats of a released booking."""
    if row and row[1] == "reserved":
        return ROOM_RESERVED, SUCCEEDED, "", row[0]
    if row and row[1] == "released":
        return ROOM_REFUSED, FAILED, "booking already released", None
    held = {r for (r,) in db.execute("SELECT room FROM reservations WHERE status = 'reserved'")}
    free = [r for r in range(1, rooms + 1) if r not in held]
    if not free:
        return ROOM_REFUSED, FAILED, "no rooms left", None
    db.execute("INSERT INTO reservations (booking_ref, user_id, room, nights, status, updated_at) VALUES (?, ?, ?, ?, 'reserved', ?)",
               (ref, user, free[0], nights, rfc3339(now)))
    return ROOM_RESERVED, SUCCEEDED, "", free[0]


def release(db, row, ref, user, nights, now):
    """Frees the booking's room. Releasing twice frees once; releasing what was never
    reserved succeeds with no effect and leaves a tombstone, so a late ReserveRoom of the
    same booking is refused instead of holding a room nobody will release."""
    if row and row[1] == "reserved":
        db.execute("UPDATE reservations SET status = 'released', room = NULL, updated_at = ? WHERE booking_ref = ?", (rfc3339(now), ref))
        return ROOM_RELEASED, SUCCEEDED, "", row[0]
    if not row:
        db.execute("INSERT INTO reservations (booking_ref, user_id, room, nights, status, updated_at) VALUES (?, ?, NULL, ?, 'released', ?)",
                   (ref, user, nights, rfc3339(now)))
    return ROOM_RELEASED, SUCCEEDED, "", None


def answer(db, cmd, command, rooms, now):
    """The command's answer, in ONE transaction with its effect: the stored one for a
    command id seen before (no second effect), else a new one, stored with the effect.

    Returns (event, reply, published, repeated)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        row = db.execute("SELECT event, reply, published FROM handled WHERE command_id = ?", (cmd["id"],)).fetchone()
        if row:
            db.execute("COMMIT")
            return json.loads(row[0]), json.loads(row[1]), bool(row[2]), True
        outcome, ev, rp = decide(db, cmd, command, rooms, now)
        db.execute("INSERT INTO handled (command_id, command, outcome, event, reply, handled_at) VALUES (?, ?, ?, ?, ?, ?)",
                   (cmd["id"], cmd["type"], outcome, json.dumps(ev), json.dumps(rp), rfc3339(now)))
        db.execute("COMMIT")
        return ev, rp, False, False
    except BaseException:
        db.execute("ROLLBACK")
        raise


def mark_published(db, command_id):
    """Remembers that the broker has the command's event and reply: a redelivery then
    sends the reply alone, as the Go runtime does."""
    db.execute("UPDATE handled SET published = 1 WHERE command_id = ?", (command_id,))


# --- writing ------------------------------------------------------------------------


class Writer:
    """Writes records and waits until the broker has them: nothing moves on before."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.producer = self.new_producer()

    def new_producer(self):
        """An idempotent producer: a retried send is written once."""
        return Producer(dict(self.cfg.kafka, **{
            "enable.idempotence": True,
            "acks": "all",
            # Apache Kafka's (and saga's) partitioner: a reply lands on its saga's partition.
            "partitioner": "murmur2_random",
        }))

    def write(self, name, rec, signed=True):
        """Writes rec to topic name, signed for the topic's readers, and waits for the ack."""
        t = topic(self.cfg.namespace, name)
        body = rec["payload"].encode() if isinstance(rec["payload"], str) else rec["payload"]
        headers = dict(rec["headers"])
        if signed:
            headers.update(sign.sign_record(self.cfg.key, self.cfg.ring, READERS[name], t, rec["key"] or "", headers, body))
        errors = []
        try:
            self.producer.produce(t, key=rec["key"].encode() if rec["key"] else None, value=body,
                                  headers=list(headers.items()),
                                  on_delivery=lambda err, _msg: errors.append(err))
        except KafkaException as e:
            self.renew_if_fatal(e.args[0])
            raise
        if self.producer.flush(30) > 0 or not errors:
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT, "write to %s not acknowledged" % t))
        if errors[0] is not None:
            self.renew_if_fatal(errors[0])
            raise KafkaException(errors[0])

    def renew_if_fatal(self, err):
        """An idempotent producer that failed for good writes nothing more: the retry of
        the command gets a new one."""
        if isinstance(err, KafkaError) and err.fatal():
            log.error("producer failed for good (%s); starting a new one", err)
            self.producer = self.new_producer()

    def close(self):
        self.producer.flush(10)


def dead_letter(writer, msg, h, reason):
    """Moves a record the hotel can never process to saga.dlq, as it was, with the reason
    and where it was read: the writer's signature stays, so a redrive is obeyed as the
    original would have been (bus/verify.go signs no copy)."""
    headers = {k: v for k, v in h.items() if k not in ORIGIN_HEADERS}
    headers.update({
        "kafka_topic": msg.topic(), "kafka_partition": str(msg.partition()), "kafka_offset": str(msg.offset()),
        REASON_HEADER: reason, "topic_poisoned": msg.topic(), "handler_poisoned": SERVICE, "subscriber_poisoned": "",
    })
    key = (msg.key() or b"").decode("utf-8", "replace")
    writer.write(DLQ, {"key": key, "headers": headers, "payload": msg.value() or b""}, signed=False)
    log.warning("dead-lettered %s %s: %s", h.get("type", "?"), h.get("id", "?"), reason)


# --- the loop -----------------------------------------------------------------------


def crash_point(name):
    """The recovery test's kill between two steps of a command: HOTEL_CRASH_AFTER=name
    ends the process there at once, as SIGKILL would (no flush, no offset commit)."""
    if os.environ.get("HOTEL_CRASH_AFTER") == name:
        log.warning("HOTEL_CRASH_AFTER=%s: exiting as if killed", name)
        os._exit(137)


def handle(cfg, db, writer, msg):
    """One command, from check to reply; raises on a transient failure (retried)."""
    h = headers_of(msg)
    payload = msg.value() or b""
    try:
        check_headers(h)
        check_signature(cfg, msg, h)
        command = decode_command(h, payload)
    except (Malformed, sign.Refused) as e:
        dead_letter(writer, msg, h, str(e))
        return
    cmd = dict(h, key=(msg.key() or b"").decode("utf-8", "replace"))
    try:
        ev, rp, published, repeated = answer(db, cmd, command, cfg.rooms, datetime.now(timezone.utc))
    except Malformed as e:
        dead_letter(writer, msg, h, str(e))
        return
    if not repeated:
        crash_point("transaction")
    if not published:
        writer.write(DOMAIN, ev)  # the event first, as the Go runtime's outbox writes its log phase first
        crash_point("event")
    writer.write(REPLIES, rp)
    crash_point("reply")
    mark_published(db, cmd["id"])
    crash_point("published")
    outcome = json.loads(rp["payload"])
    log.info("%s %s of saga %s (%s): %s%s", "replied again to" if repeated else "handled", cmd["type"], cmd["saga_id"],
             cmd["id"], outcome["outcome"], " (" + outcome["reason"] + ")" if outcome.get("reason") else "")


def handle_until_done(cfg, db, writer, msg, stop):
    """Handles msg, retrying a transient failure (the broker, the database) with backoff
    on the same record: the partition waits, nothing is skipped. False when stopped first."""
    wait = 0.1
    while not stop:
        try:
            handle(cfg, db, writer, msg)
            return True
        except (KafkaException, sqlite3.Error, ValueError) as e:
            log.error("command at %s[%d]@%d not handled; will retry: %s", msg.topic(), msg.partition(), msg.offset(), e)
            time.sleep(wait)
            wait = min(2 * wait, 5)
    return False


def commit(consumer, msg):
    """Commits the offset after msg. One that fails (the partition moved to another hotel
    process meanwhile) is left: the command is read again and answered from the store."""
    try:
        consumer.commit(message=msg, asynchronous=False)
    except KafkaException as e:
        log.warning("offset %s[%d]@%d not committed, the command will be read again: %s", msg.topic(), msg.partition(), msg.offset(), e)


def run(cfg):
    """Consumes hotel.commands until SIGTERM or SIGINT, committing each offset only after
    its command is answered."""
    stop = []
    for s in (signal.SIGTERM, signal.SIGINT):
        signal.signal(s, lambda *_: stop.append(True))
    db = open_db(cfg.db)
    writer = Writer(cfg)
    consumer = Consumer(dict(cfg.kafka, **{
        "group.id": topic(cfg.namespace, SERVICE),
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        # As the Go parts (bus/sarama.go): a killed hotel's partitions move after 10s.
        "session.timeout.ms": 10000,
        "heartbeat.interval.ms": 1000,
    }))
    consumer.subscribe([topic(cfg.namespace, COMMANDS)],
                       on_assign=lambda _c, parts: log.info("consuming %s", ", ".join("%s[%d]" % (p.topic, p.partition) for p in parts)))
    log.info("hotel started: %d rooms, data in %s", cfg.rooms, cfg.db)
    try:
        while not stop:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                log.warning("consumer: %s", msg.error())
                continue
            if handle_until_done(cfg, db, writer, msg, stop):
                commit(consumer, msg)
    finally:
        consumer.close()
        writer.close()
        db.close()
        log.info("hotel stopped")


# --- configuration ------------------------------------------------------------------


class Config:
    """Where the hotel connects, with which login and keys, and where it keeps its data."""

    def __init__(self, args):
        data = args.data_dir
        brokers = args.brokers or read_text(os.path.join(data, "broker.addr"))
        if not brokers:
            raise SystemExit("hotel: no brokers: give --brokers, or --data-dir of a running `saga up`")
        self.kafka = {"bootstrap.servers": brokers, "enable.metrics.push": False, "client.id": SERVICE}
        self.kafka.update(sasl_login(args, data))
        keys = args.keys or os.path.join(data, "keys")
        self.key = sign.load_key(args.key_file or os.path.join(keys, SERVICE + ".key"))
        if self.key["principal"] != SERVICE:
            raise SystemExit("hotel: the key file holds a key of %s, not of %s" % (self.key["principal"], SERVICE))
        self.ring = sign.load_keyring(os.path.join(keys, "keyring.json"))
        self.namespace = args.namespace
        self.db = args.db
        self.rooms = args.rooms


def read_text(path):
    """A file's text, stripped; empty when the file is not there."""
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError:
        return ""


def sasl_login(args, data):
    """The hotel's SCRAM-SHA-512 login. On the embedded broker of `saga up` it is the hotel's
    user in <data-dir>/broker-users.json, as every Go part logs in as its own user; the
    broker asks for one while <data-dir>/broker.auth is there. --sasl-user and
    KAFKA_SASL_PASSWORD name another (a Kafka cluster's)."""
    user, password = args.sasl_user, os.environ.get("KAFKA_SASL_PASSWORD", "")
    mechanism = args.sasl_mechanism
    if not user and os.path.exists(os.path.join(data, "broker.auth")):
        with open(os.path.join(data, "broker-users.json")) as f:
            users = json.load(f)
        if SERVICE not in users:
            raise SystemExit("hotel: %s has no %s user: start saga with the hotel declared (--services examples/hotel/services.yaml)"
                             % (os.path.join(data, "broker-users.json"), SERVICE))
        user, password = users[SERVICE]["user"], users[SERVICE]["password"]
        mechanism = read_text(os.path.join(data, "broker.auth")) or mechanism
    if not user:
        return {}
    login = {"security.protocol": args.security_protocol, "sasl.mechanism": mechanism,
             "sasl.username": user, "sasl.password": password}
    if args.tls_ca:
        login["ssl.ca.location"] = args.tls_ca
    return login


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", default="./.saga", help="saga's data directory: broker address, broker users and keys (default ./.saga)")
    p.add_argument("--brokers", default="", help="bootstrap brokers, host:port,... (default: the embedded broker of --data-dir)")
    p.add_argument("--namespace", default="", help="prefix of every topic and group, as saga's --namespace")
    p.add_argument("--keys", default="", help="the key directory (default <data-dir>/keys)")
    p.add_argument("--key-file", default="", help="the hotel's private key (default <keys>/hotel.key)")
    p.add_argument("--sasl-user", default="", help="SASL user (the password in KAFKA_SASL_PASSWORD)")
    p.add_argument("--sasl-mechanism", default="SCRAM-SHA-512", help="SASL mechanism with --sasl-user")
    p.add_argument("--security-protocol", default="SASL_PLAINTEXT", help="SASL_PLAINTEXT or SASL_SSL, with a SASL user")
    p.add_argument("--tls-ca", default="", help="PEM file of the CA that signed the brokers' certificates, with SASL_SSL")
    p.add_argument("--db", default="hotel.db", help="the hotel's SQLite database (default ./hotel.db)")
    p.add_argument("--rooms", type=int, default=20, help="rooms the hotel has (default 20)")
    p.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s hotel: %(message)s")
    run(Config(args))


if __name__ == "__main__":
    main()
