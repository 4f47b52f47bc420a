// Package client is what users and scripts call: post booking commands to
// Kafka, and read sagas and seats back from the logs. The CLI is a thin
// shell around it.
package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/sagaflow/saga/bus"
	"github.com/sagaflow/saga/events"
	"github.com/sagaflow/saga/orchestrator/flows"
	"github.com/sagaflow/saga/participants/catalog"
	"github.com/sagaflow/saga/projections"
	"github.com/sagaflow/saga/readmodel"
	"github.com/sagaflow/saga/tracing"
)

// ErrInvalid marks a request refused before anything was posted.
var ErrInvalid = errors.New("invalid request")

// ErrNotFound marks a saga or booking the logs do not hold.
var ErrNotFound = errors.New("not found")

// Client posts requests and reads the logs.
type Client struct {
	cfg bus.Config
	pub message.Publisher
	now func() time.Time
	// reader, when set, answers from read models instead of the logs.
	reader ReadModel
	// cat is the users and shows known before the logs say more.
	cat catalog.Catalog
	// log hears of records a fold skips because they do not check.
	log zerolog.Logger
}

// Option configures a Client.
type Option func(*Client)

// WithCatalog gives the client the users and shows the deployment starts
// with: a booking's user must be one of them, and their shows are on sale
// before the logs list them. Without it no user is known and every show
// comes from the logs.
func WithCatalog(cat catalog.Catalog) Option {
	return func(c *Client) {
		if cat != nil {
			c.cat = cat
		}
	}
}

// WithLog gives the client a logger: a record that a fold of a log skips
// because it does not check (forged, corrupt, of an unknown type) is
// reported there with its place, rather than dropped unseen. The
// orchestrator dead-letters such records; a reader only skips them.
func WithLog(log zerolog.Logger) Option {
	return func(c *Client) { c.log = log }
}

// New connects to the brokers of cfg; it fails fast when none answers.
func New(ctx context.Context, cfg bus.Config, opts ...Option) (*Client, error) {
	if err := bus.WaitReady(ctx, cfg); err != nil {
		return nil, err
	}
	pub, err := bus.NewPublisher(cfg, watermill.NopLogger{})
	if err != nil {
		return nil, err
	}
	// A broker restarting or a leader moving is waited out (Config.Retry).
	c := &Client{cfg: cfg, pub: bus.RetryingPublisher(cfg, pub), now: time.Now, cat: catalog.Empty{}, log: zerolog.Nop()}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Config is the connection the client uses.
func (c *Client) Config() bus.Config { return c.cfg }

// Close releases the connection, and the read model given to
// UseReadModel.
func (c *Client) Close() error {
	err := c.pub.Close()
	if cl, ok := c.reader.(io.Closer); ok {
		err = errors.Join(err, cl.Close())
	}
	return err
}

// BookRequest asks for seats at a show.
type BookRequest struct {
	UserID       string
	ShowID       string
	Seats        int
	PaymentToken string
	// IdempotencyKey makes a retried request start nothing new; a fresh
	// one is made when it is empty.
	IdempotencyKey string
	// Actor is who acts; the booking user when empty.
	Actor string
	// Definition is the saga definition that books: book-ticket when
	// empty, else one applied with its own steps (a hotel room, say).
	Definition string
	// Extra are more fields of the saga data, for the steps of such a
	// definition; they cannot replace the booking's own fields.
	Extra map[string]json.RawMessage
}

// Validate checks the request against its shape and the users of cat, so
// a mistake is reported before anything is posted; Book also checks that
// the show is on sale, which needs the logs.
func (r BookRequest) Validate(cat catalog.Catalog) error {
	d := events.BookingData{UserID: r.UserID, ShowID: r.ShowID, Seats: r.Seats, PaymentToken: r.PaymentToken}
	errs := []error{d.ValidateBooking()}
	if _, ok := cat.Users()[r.UserID]; r.UserID != "" && !ok {
		errs = append(errs, fmt.Errorf("unknown user %q", r.UserID))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return nil
}

// checkShow makes sure a show is on sale: a catalogue show always is;
// another one must have been added (saga shows add).
func (c *Client) checkShow(ctx context.Context, id string) error {
	if _, ok := c.cat.Shows()[id]; ok {
		return nil
	}
	if c.reader != nil {
		listed, err := c.reader.SearchShows(ctx, "", "")
		if err != nil {
			return err
		}
		for _, s := range listed {
			if s.ShowID == id {
				return nil
			}
		}
		// Not there yet, or unknown: only then do the logs decide.
	}
	if ok, err := c.showOnSale(ctx, id); err != nil || ok {
		return err
	}
	shows, err := c.Shows(ctx)
	if err != nil {
		return err
	}
	if _, ok := shows.Get(id); !ok {
		return fmt.Errorf("%w: unknown show %q", ErrInvalid, id)
	}
	return nil
}

// Receipt names a posted saga.
type Receipt struct {
	SagaID     string `json:"saga_id"`
	BookingRef string `json:"booking_ref"`
	// Seen is how many events of the saga the log held when the request
	// was posted: Wait waits for an end after them.
	Seen int `json:"-"`
	// req is the StartSaga request posted, if it was one.
	req request
}

// Book posts a book-ticket request and returns its saga id and booking
// reference at once; the saga runs asynchronously (see Wait).
func (c *Client) Book(ctx context.Context, r BookRequest) (Receipt, error) {
	if err := r.Validate(c.cat); err != nil {
		return Receipt{}, err
	}
	if err := c.checkShow(ctx, r.ShowID); err != nil {
		return Receipt{}, err
	}
	e, err := BookingRequest(r, c.now())
	if err != nil {
		return Receipt{}, err
	}
	if r.definition() != flows.BookTicket {
		if err := c.checkDefinition(ctx, e); err != nil {
			return Receipt{}, err
		}
	}
	return c.post(ctx, r.definition(), e)
}

func (r BookRequest) definition() string {
	if r.Definition == "" {
		return flows.BookTicket
	}
	return r.Definition
}

// BookingRequest is the StartSaga request Book posts, made at time at, for
// callers that post it themselves (the benchmark's async producer). It
// does not validate r.
func BookingRequest(r BookRequest, at time.Time) (events.Envelope, error) {
	if r.IdempotencyKey == "" {
		r.IdempotencyKey = uuid.NewString()
	}
	if r.Actor == "" {
		r.Actor = r.UserID
	}
	ref := events.BookingRefFor(events.SagaIDFor(r.IdempotencyKey))
	data := events.BookingData{BookingRef: ref, UserID: r.UserID, ShowID: r.ShowID, Seats: r.Seats, PaymentToken: r.PaymentToken}
	if len(r.Extra) == 0 {
		return startRequest(r.definition(), r.IdempotencyKey, ref, r.Actor, data, at)
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return events.Envelope{}, err
	}
	fields := map[string]json.RawMessage{}
	if err := json.Unmarshal(raw, &fields); err != nil {
		return events.Envelope{}, err
	}
	for k, v := range r.Extra {
		if _, taken := fields[k]; !taken && k != "payment_token" {
			fields[k] = v
		}
	}
	return startRequest(r.definition(), r.IdempotencyKey, ref, r.Actor, fields, at)
}

// Cancel posts a cancel-booking saga for a completed booking.
func (c *Client) Cancel(ctx context.Context, bookingRef, actor string) (Receipt, error) {
	booked, err := c.booking(ctx, bookingRef)
	if err != nil {
		return Receipt{}, err
	}
	if booked == nil {
		return Receipt{}, fmt.Errorf("%w: no booking %q", ErrNotFound, bookingRef)
	}
	if booked.Status != "completed" {
		return Receipt{}, fmt.Errorf("%w: booking %s is %s, only completed bookings can be cancelled", ErrInvalid, bookingRef, booked.Status)
	}
	var d events.BookingData
	if err := json.Unmarshal(booked.Data, &d); err != nil {
		return Receipt{}, fmt.Errorf("read booking %s: %w", bookingRef, err)
	}
	if actor == "" {
		actor = d.UserID
	}
	data := events.BookingData{BookingRef: bookingRef, UserID: d.UserID, ShowID: d.ShowID, Seats: d.Seats,
		AmountCents: d.AmountCents, ChargeID: d.ChargeID}
	// One cancellation per booking: the key is derived from the reference.
	return c.start(ctx, flows.CancelBooking, "cancel:"+bookingRef, bookingRef, actor, data)
}

func (c *Client) start(ctx context.Context, def, key, ref, actor string, data any) (Receipt, error) {
	e, err := startRequest(def, key, ref, actor, data, c.now())
	if err != nil {
		return Receipt{}, err
	}
	return c.post(ctx, def, e)
}

// startRequest is the StartSaga request of a saga definition.
func startRequest(def, key, ref, actor string, data any, at time.Time) (events.Envelope, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return events.Envelope{}, err
	}
	sagaID := events.SagaIDFor(key)
	p := events.StartSagaV1{Definition: def, IdempotencyKey: key, BookingRef: ref, Data: raw}
	return events.New(uuid.NewString(), events.StartSaga, p,
		events.Trace{SagaID: sagaID, CorrelationID: ref, Actor: actor}, sagaID, at)
}

// post publishes the StartSaga request of definition def, unless the read
// model already holds the saga of its key started by another request.
func (c *Client) post(ctx context.Context, def string, e events.Envelope) (Receipt, error) {
	p, err := events.Decode[events.StartSagaV1](e)
	if err != nil {
		return Receipt{}, err
	}
	rec := Receipt{SagaID: e.SagaID, BookingRef: e.CorrelationID, req: request{key: p.IdempotencyKey, definition: def, data: string(p.Data)}}
	if v, ok, err := c.existing(ctx, rec); err != nil {
		return Receipt{}, err
	} else if ok {
		if err := rec.Conflict(v); err != nil {
			return Receipt{}, err
		}
	}
	msg := bus.ToMessage(e)
	tracing.Inject(ctx, msg.Metadata)
	if err := c.pub.Publish(c.cfg.Topic(events.TopicRequests), msg); err != nil {
		if errors.Is(err, bus.ErrUnknownTopic) {
			return Receipt{}, fmt.Errorf("post %s request: topic %s does not exist: start the system (`saga up`) first", def, c.cfg.Topic(events.TopicRequests))
		}
		return Receipt{}, fmt.Errorf("post %s request: %w", def, err)
	}
	return rec, nil
}

// Sagas folds the saga log as it stands now.
func (c *Client) Sagas(ctx context.Context) (*projections.Sagas, error) {
	p := projections.NewSagas(flows.All())
	err := c.readChecked(ctx, events.TopicSagaLog, func(e events.Envelope, _ bus.Record) { p.Add(e) })
	return p, err
}

// Shows folds the booking log into the shows on sale.
func (c *Client) Shows(ctx context.Context) (*projections.Shows, error) {
	shows := projections.NewShows()
	err := c.readChecked(ctx, events.DomainTopic(events.ServiceBooking), func(e events.Envelope, _ bus.Record) { shows.Add(e) })
	return shows, err
}

// AddShow posts an add-show saga; the show id is its idempotency key, so
// adding the same show twice lists it once.
func (c *Client) AddShow(ctx context.Context, d events.ShowData, actor string) (Receipt, error) {
	if err := d.Validate(); err != nil {
		return Receipt{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if actor == "" {
		actor = "operator"
	}
	return c.start(ctx, flows.AddShow, "show:"+d.ShowID, d.ShowID, actor, d)
}

// SeedShows publishes the shows of cat as add-show sagas. It is safe to
// call at every start: each show's saga is started once.
func (c *Client) SeedShows(ctx context.Context, cat catalog.Catalog) error {
	for _, s := range cat.Shows() {
		d := events.ShowData{ShowID: s.ID, Title: s.Title, Venue: s.Venue, City: s.City, State: s.State,
			Country: s.Country, Capacity: s.Capacity, PriceCents: s.PriceCents}
		if _, err := c.start(ctx, flows.AddShow, "seed:"+s.ID, s.ID, "system", d); err != nil {
			return fmt.Errorf("seed show %s: %w", s.ID, err)
		}
	}
	return nil
}

// SignUp posts a user-signup saga under the idempotency key key (prefixed
// "signup:", so no other saga can take it).
func (c *Client) SignUp(ctx context.Context, d events.UserData, key, actor string) (Receipt, error) {
	d.Blocked = false
	if err := d.ValidateShape(); err != nil {
		return Receipt{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	return c.start(ctx, flows.UserSignup, "signup:"+key, d.UserID, actor, d)
}

// SetBlocked posts a block-user or unblock-user saga for userID; each
// call is a new saga, so a user can be blocked again after an unblock.
func (c *Client) SetBlocked(ctx context.Context, userID string, blocked bool, actor string) (Receipt, error) {
	d := events.UserData{UserID: userID}
	if err := d.ValidateID(); err != nil {
		return Receipt{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	def := flows.Unblock
	if blocked {
		def = flows.BlockUser
	}
	return c.start(ctx, def, uuid.NewString(), userID, actor, d)
}

// SeedUsers publishes the users of cat as import-user sagas, so the user
// log holds them. It is safe to call at every start: each user's saga is
// started once.
func (c *Client) SeedUsers(ctx context.Context, cat catalog.Catalog) error {
	for _, u := range cat.Users() {
		d := events.UserData{UserID: u.ID, Name: u.Name, Email: u.Email, Phone: u.Phone, Blocked: u.Blocked}
		if _, err := c.start(ctx, flows.ImportUser, "seed:user:"+u.ID, u.ID, "system", d); err != nil {
			return fmt.Errorf("seed user %s: %w", u.ID, err)
		}
	}
	return nil
}

// Inventory folds the booking log into seats per show.
func (c *Client) Inventory(ctx context.Context) (*projections.Inventory, error) {
	inv := projections.NewInventory(c.cat.Shows())
	err := c.readChecked(ctx, events.DomainTopic(events.ServiceBooking), func(e events.Envelope, _ bus.Record) { inv.Add(e) })
	return inv, err
}

// booking is the book-ticket saga of a booking reference, nil when there
// is none.
func (c *Client) booking(ctx context.Context, ref string) (*projections.SagaView, error) {
	if c.reader != nil {
		b, err := c.reader.Booking(ctx, ref)
		if err != nil && !errors.Is(err, readmodel.ErrNotFound) {
			return nil, err
		}
		v, err := c.reader.Saga(ctx, b.SagaID)
		if err == nil && isTerminal(v.Status) {
			return &v, nil
		}
		if err != nil && !errors.Is(err, readmodel.ErrNotFound) {
			return nil, err
		}
		// Not there yet, or not ended as far as the read model knows: only
		// then do the logs decide.
	}
	sagas, err := c.Sagas(ctx)
	if err != nil {
		return nil, err
	}
	var booked *projections.SagaView
	for _, v := range sagas.ByRef(ref) {
		if s, ok := sagas.State(v.SagaID); ok && sagas.Kind(s) == projections.KindBook {
			booked = &v
		}
	}
	return booked, nil
}

// Inspect returns a saga by id or booking reference (the latest saga of
// the reference).
func (c *Client) Inspect(ctx context.Context, idOrRef string) (projections.SagaView, error) {
	if c.reader != nil {
		v, err := c.reader.Saga(ctx, idOrRef)
		if errors.Is(err, readmodel.ErrNotFound) {
			return v, fmt.Errorf("%w: no saga or booking %q", ErrNotFound, idOrRef)
		}
		return v, err
	}
	sagas, err := c.Sagas(ctx)
	if err != nil {
		return projections.SagaView{}, err
	}
	v, ok := sagas.Find(idOrRef)
	if !ok {
		return v, fmt.Errorf("%w: no saga or booking %q", ErrNotFound, idOrRef)
	}
	return v, nil
}

// Wait follows the saga log until the saga has ended or ctx is done; it
// returns the last view seen either way, with ctx's error on time-out.
func (c *Client) Wait(ctx context.Context, sagaID string) (projections.SagaView, error) {
	return c.WaitAfter(ctx, sagaID, 0)
}

// WaitAfter is Wait for an end reached after the saga's first seen events
// (a resumed saga has ended once before). A record naming the saga that
// does not check is skipped, logged, and named in the time-out's error.
func (c *Client) WaitAfter(ctx context.Context, sagaID string, seen int) (projections.SagaView, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p := projections.NewSagas(flows.All())
	var last projections.SagaView
	done, unreadable := false, 0
	err := bus.Follow(ctx, c.cfg, c.cfg.Topic(events.TopicSagaLog), func(r bus.Record) error {
		e, err := c.cfg.CheckLogged(r)
		if err != nil {
			if r.Headers[events.HeaderSagaID] == sagaID {
				unreadable++
				c.skipped(r, err)
			}
			return nil //nolint:nilerr // counted and logged; the wait goes on
		}
		if e.SagaID != sagaID {
			return nil
		}
		p.Add(e)
		if v, ok := p.Find(sagaID); ok {
			last = v
			if done = isTerminal(v.Status) && len(v.Events) > seen; done {
				cancel()
			}
		}
		return nil
	})
	if done {
		return last, nil
	}
	if err == nil || errors.Is(err, context.Canceled) {
		err = ctx.Err()
	}
	if unreadable > 0 && err != nil {
		err = fmt.Errorf("%w (%d record(s) of saga %s in %s could not be read)", err, unreadable, sagaID, events.TopicSagaLog)
	}
	return last, err
}

// skipped logs a record a fold leaves out because it does not check.
func (c *Client) skipped(r bus.Record, err error) {
	c.log.Warn().Err(err).Str("topic", r.Topic).Int32("partition", r.Partition).Int64("offset", r.Offset).
		Msg("skipped a record that does not check")
}

func isTerminal(status string) bool {
	return status == "completed" || status == "compensated" || status == "failed"
}

// readChecked reads a topic as it stands, skipping (and logging) records
// that do not check: they are the dead-letter topic's business, not a
// reader's.
func (c *Client) readChecked(ctx context.Context, topic string, fn func(events.Envelope, bus.Record)) error {
	return bus.ReadAll(ctx, c.cfg, c.cfg.Topic(topic), func(r bus.Record) error {
		e, err := c.cfg.CheckLogged(r)
		if err != nil {
			c.skipped(r, err)
			return nil //nolint:nilerr // logged; the fold goes on
		}
		fn(e, r)
		return nil
	})
}

// Retry asks the orchestrator to resume a failed saga (by id or booking
// reference) once its cause is fixed: the failed compensation runs again.
func (c *Client) Retry(ctx context.Context, idOrRef, actor, reason string) (Receipt, error) {
	v, err := c.Inspect(ctx, idOrRef)
	if err != nil {
		return Receipt{}, err
	}
	if v.Status != "failed" {
		return Receipt{}, fmt.Errorf("%w: saga %s is %s; only failed sagas can be retried", ErrInvalid, v.SagaID, v.Status)
	}
	if actor == "" {
		actor = "operator"
	}
	e, err := events.New(uuid.NewString(), events.ResumeSaga, events.ResumeSagaV1{Reason: reason},
		events.Trace{SagaID: v.SagaID, CorrelationID: v.BookingRef, Actor: actor}, v.SagaID, c.now())
	if err != nil {
		return Receipt{}, err
	}
	if err := c.pub.Publish(c.cfg.Topic(events.TopicRequests), bus.ToMessage(e)); err != nil {
		return Receipt{}, fmt.Errorf("post retry of %s: %w", v.SagaID, err)
	}
	return Receipt{SagaID: v.SagaID, BookingRef: v.BookingRef, Seen: len(v.Events)}, nil
}
