// Package webhook sends the saga log's booking outcomes to subscribers'
// endpoints, per the Standard Webhooks specification: signed, timestamped,
// retried with exponential backoff and jitter for a horizon, parked when
// the horizon is spent, and redeliverable. Subscriptions, deliveries and
// the saga log offsets they came from live in one SQLite file, so that a
// delivery is created exactly once per event, however often the sender
// restarts.
package webhook

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/google/uuid"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// FileName is the store's file under the data directory.
const FileName = "webhooks.db"

// ErrNotFound marks an unknown subscription or delivery.
var ErrNotFound = errors.New("not found")

// Delivery statuses.
const (
	StatusPending   = "pending"
	StatusDelivered = "delivered"
	StatusParked    = "parked"
)

// Subscription is an endpoint that gets the events it lists (all when
// none).
type Subscription struct {
	ID        string    `json:"id"`
	URL       string    `json:"url"`
	Events    []string  `json:"events"`
	CreatedAt time.Time `json:"created_at"`
	// Secret is "whsec_" and the base64 of the HMAC key; it is shown once,
	// when the subscription is made.
	Secret string `json:"secret,omitempty"`
}

// Delivery is one event for one subscription, and how its sending went.
type Delivery struct {
	ID             string          `json:"id"`
	SubscriptionID string          `json:"subscription_id"`
	BookingRef     string          `json:"booking_ref"`
	EventType      string          `json:"event_type"`
	Status         string          `json:"status"`
	Attempts       int             `json:"attempts"`
	NextAttemptAt  *time.Time      `json:"next_attempt_at,omitempty"`
	LastError      string          `json:"last_error,omitempty"`
	LastStatusCode int             `json:"last_status_code,omitempty"`
	CreatedAt      time.Time       `json:"created_at"`
	DeliveredAt    *time.Time      `json:"delivered_at,omitempty"`
	Payload        json.RawMessage `json:"payload"`

	url, secret string
	seq         int64
	firstAt     time.Time
}

// Store is the webhook database.
type Store struct {
	db  *sql.DB
	now func() time.Time
}

// Open opens (creating) the store at path; the file holds secrets and is
// created 0600.
func Open(path string) (*Store, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(30000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	if err := touchPrivate(path); err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("webhook store %s: %w", path, err)
	}
	db.SetMaxOpenConns(4)
	s := &Store{db: db, now: time.Now}
	if err := errors.Join(s.migrate(), s.migrateResume()); err != nil {
		db.Close()
		return nil, fmt.Errorf("webhook store %s: %w", path, err)
	}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

func (s *Store) migrate() error {
	_, err := s.db.Exec(`
CREATE TABLE IF NOT EXISTS subscriptions (
	id TEXT PRIMARY KEY, url TEXT NOT NULL, events TEXT NOT NULL, secret TEXT NOT NULL,
	created_at INTEGER NOT NULL, deleted_at INTEGER, booking_ref TEXT);
CREATE UNIQUE INDEX IF NOT EXISTS subscriptions_callback ON subscriptions (booking_ref, url) WHERE booking_ref IS NOT NULL;
CREATE TABLE IF NOT EXISTS deliveries (
	seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, subscription_id TEXT NOT NULL,
	booking_ref TEXT NOT NULL, event_type TEXT NOT NULL, payload TEXT NOT NULL, status TEXT NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL, first_at INTEGER NOT NULL,
	last_error TEXT NOT NULL DEFAULT '', last_status INTEGER NOT NULL DEFAULT 0, delivered_at INTEGER);
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (status, next_at);
CREATE INDEX IF NOT EXISTS deliveries_order ON deliveries (subscription_id, booking_ref, status, seq);
CREATE TABLE IF NOT EXISTS offsets (topic TEXT NOT NULL, partition INTEGER NOT NULL, next INTEGER NOT NULL,
	PRIMARY KEY (topic, partition));`)
	return err
}

// NewSecret makes a Standard Webhooks secret: whsec_ and 24 random bytes.
func NewSecret() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

// Subscribe stores a subscription and returns it with its secret.
func (s *Store) Subscribe(ctx context.Context, endpoint string, eventTypes []string) (Subscription, error) {
	if eventTypes == nil {
		eventTypes = []string{}
	}
	sub := Subscription{ID: uuid.NewString(), URL: endpoint, Events: eventTypes, CreatedAt: s.now().UTC(), Secret: NewSecret()}
	evs, _ := json.Marshal(eventTypes)
	_, err := s.db.ExecContext(ctx, `INSERT INTO subscriptions (id, url, events, secret, created_at) VALUES (?, ?, ?, ?, ?)`,
		sub.ID, sub.URL, string(evs), sub.Secret, sub.CreatedAt.UnixNano())
	return sub, err
}

// SubscribeBooking subscribes a booking's callback URL to the booking's
// own events; created is false (and the secret empty) when the booking
// already has that callback, so a repeated request makes no second one.
func (s *Store) SubscribeBooking(ctx context.Context, bookingRef, endpoint string) (sub Subscription, created bool, err error) {
	sub = Subscription{ID: uuid.NewString(), URL: endpoint, Events: []string{}, CreatedAt: s.now().UTC(), Secret: NewSecret()}
	res, err := s.db.ExecContext(ctx, `INSERT OR IGNORE INTO subscriptions (id, url, events, secret, created_at, booking_ref)
		VALUES (?, ?, '[]', ?, ?, ?)`, sub.ID, endpoint, sub.Secret, sub.CreatedAt.UnixNano(), bookingRef)
	if err != nil {
		return Subscription{}, false, err
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return sub, true, nil
	}
	var at int64
	err = s.db.QueryRowContext(ctx, `SELECT id, created_at FROM subscriptions WHERE booking_ref = ? AND url = ?`, bookingRef, endpoint).
		Scan(&sub.ID, &at)
	sub.Secret, sub.CreatedAt = "", time.Unix(0, at).UTC()
	return sub, false, err
}

// Subscriptions lists the live subscriptions, without their secrets.
func (s *Store) Subscriptions(ctx context.Context) ([]Subscription, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, url, events, created_at FROM subscriptions WHERE deleted_at IS NULL AND booking_ref IS NULL ORDER BY created_at, id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Subscription{}
	for rows.Next() {
		var sub Subscription
		var evs string
		var at int64
		if err := rows.Scan(&sub.ID, &sub.URL, &evs, &at); err != nil {
			return nil, err
		}
		_ = json.Unmarshal([]byte(evs), &sub.Events)
		sub.CreatedAt = time.Unix(0, at).UTC()
		out = append(out, sub)
	}
	return out, rows.Err()
}

// Subscription returns one live subscription, without its secret.
func (s *Store) Subscription(ctx context.Context, id string) (Subscription, error) {
	subs, err := s.Subscriptions(ctx)
	if err != nil {
		return Subscription{}, err
	}
	for _, sub := range subs {
		if sub.ID == id {
			return sub, nil
		}
	}
	return Subscription{}, fmt.Errorf("%w: no webhook %q", ErrNotFound, id)
}

// Unsubscribe deletes a subscription; its pending deliveries are parked.
func (s *Store) Unsubscribe(ctx context.Context, id string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `UPDATE subscriptions SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL`, s.now().UnixNano(), id)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: no webhook %q", ErrNotFound, id)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE deliveries SET status = ?, last_error = 'the subscription was deleted'
		WHERE subscription_id = ? AND status = ?`, StatusParked, id, StatusPending); err != nil {
		return err
	}
	return tx.Commit()
}

const deliveryColumns = `d.seq, d.id, d.subscription_id, d.booking_ref, d.event_type, d.payload, d.status, d.attempts, d.next_at,
	d.first_at, d.last_error, d.last_status, d.delivered_at, s.url, s.secret`

func scanDelivery(sc interface{ Scan(...any) error }) (Delivery, error) {
	var d Delivery
	var payload string
	var next, first int64
	var delivered sql.NullInt64
	err := sc.Scan(&d.seq, &d.ID, &d.SubscriptionID, &d.BookingRef, &d.EventType, &payload, &d.Status, &d.Attempts, &next,
		&first, &d.LastError, &d.LastStatusCode, &delivered, &d.url, &d.secret)
	if err != nil {
		return d, err
	}
	d.Payload = json.RawMessage(payload)
	d.firstAt = time.Unix(0, first).UTC()
	d.CreatedAt = d.firstAt
	if d.Status == StatusPending {
		t := time.Unix(0, next).UTC()
		d.NextAttemptAt = &t
	}
	if delivered.Valid {
		t := time.Unix(0, delivered.Int64).UTC()
		d.DeliveredAt = &t
	}
	return d, nil
}

// Deliveries lists a subscription's deliveries, newest first, only those
// with status when it is given.
func (s *Store) Deliveries(ctx context.Context, subID, status string, limit int) ([]Delivery, error) {
	if _, err := s.Subscription(ctx, subID); err != nil {
		return nil, err
	}
	q := `SELECT ` + deliveryColumns + ` FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id WHERE d.subscription_id = ?`
	args := []any{subID}
	if status != "" {
		q += ` AND d.status = ?`
		args = append(args, status)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY d.seq DESC LIMIT ?`, append(args, limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Delivery{}
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// Redeliver makes a parked (or delivered) delivery pending again, due now,
// with a fresh horizon.
func (s *Store) Redeliver(ctx context.Context, subID, id string) error {
	now := s.now().UnixNano()
	res, err := s.db.ExecContext(ctx, `UPDATE deliveries SET status = ?, attempts = 0, next_at = ?, first_at = ?, last_error = ''
		WHERE id = ? AND subscription_id = ? AND subscription_id IN (SELECT id FROM subscriptions WHERE deleted_at IS NULL)`,
		StatusPending, now, now, id, subID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: no delivery %q of webhook %q", ErrNotFound, id, subID)
	}
	return nil
}

// due returns pending deliveries whose time has come, at most one per
// (subscription, booking) — the oldest — so each booking's events reach
// an endpoint in order.
func (s *Store) due(ctx context.Context, now time.Time, limit int) ([]Delivery, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries d JOIN subscriptions s ON s.id = d.subscription_id
		WHERE d.status = ? AND d.next_at <= ? AND s.deleted_at IS NULL AND d.seq = (SELECT MIN(e.seq) FROM deliveries e
			WHERE e.subscription_id = d.subscription_id AND e.booking_ref = d.booking_ref AND e.status = ?)
		ORDER BY d.next_at LIMIT ?`, StatusPending, now.UnixNano(), StatusPending, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		d, err := scanDelivery(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// outcome records an attempt of a delivery.
func (s *Store) outcome(ctx context.Context, d Delivery, status string, next time.Time, code int, errText string) error {
	var delivered any
	if status == StatusDelivered {
		delivered = s.now().UnixNano()
	}
	_, err := s.db.ExecContext(ctx, `UPDATE deliveries SET status = ?, attempts = attempts + 1, next_at = ?, last_status = ?,
		last_error = ?, delivered_at = ? WHERE id = ?`, status, next.UnixNano(), code, errText, delivered, d.ID)
	return err
}

// pendingEvent is a webhook event to fan out to the subscriptions.
type pendingEvent struct {
	id         string // the saga event's id: deliveries derive theirs from it
	bookingRef string
	eventType  string
	payload    []byte
}

// record applies one saga log position: the deliveries of ev (when there
// is one) and the partition's next offset, in one transaction, so a
// restart neither loses nor repeats a delivery.
func (s *Store) record(ctx context.Context, topic string, partition int32, next int64, ev *pendingEvent) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if ev != nil {
		now := s.now().UnixNano()
		rows, err := tx.QueryContext(ctx, `SELECT id, events FROM subscriptions WHERE deleted_at IS NULL
			AND (booking_ref IS NULL OR booking_ref = ?)`, ev.bookingRef)
		if err != nil {
			return err
		}
		var subs []string
		for rows.Next() {
			var id, evs string
			if err := rows.Scan(&id, &evs); err != nil {
				rows.Close()
				return err
			}
			var types []string
			_ = json.Unmarshal([]byte(evs), &types)
			if len(types) == 0 || contains(types, ev.eventType) {
				subs = append(subs, id)
			}
		}
		rows.Close()
		for _, sub := range subs {
			id := "msg_" + uuid.NewSHA1(uuid.NameSpaceURL, []byte(sub+"/"+ev.id)).String()
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO deliveries (id, subscription_id, booking_ref, event_type, payload,
				status, next_at, first_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, id, sub, ev.bookingRef, ev.eventType, string(ev.payload),
				StatusPending, now, now); err != nil {
				return err
			}
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO offsets (topic, partition, next) VALUES (?, ?, ?)
		ON CONFLICT (topic, partition) DO UPDATE SET next = excluded.next`, topic, partition, next); err != nil {
		return err
	}
	return tx.Commit()
}

// offsets returns the next offset per partition of topic.
func (s *Store) offsets(ctx context.Context, topic string) (map[int32]int64, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT partition, next FROM offsets WHERE topic = ?`, topic)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int32]int64{}
	for rows.Next() {
		var p int32
		var n int64
		if err := rows.Scan(&p, &n); err != nil {
			return nil, err
		}
		out[p] = n
	}
	return out, rows.Err()
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
