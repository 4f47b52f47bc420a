package catalogue

import (
	"context"
	"sync"
	"time"

	"github.com/sagaflow/saga/bus"
)

// RefreshEvery bounds how often a Cache reads the topic again: a miss of
// a version, or a name's current version or a listing asked for past it,
// reads it, so a flood of requests for a version that does not exist
// costs one read a second, not one each.
const RefreshEvery = time.Second

// Cache holds the catalogue for readers that ask often (the API, the back
// office's pages): versions by version id, the current one by name. A
// version never changes once published, so only what is new can be
// missing; it is safe for concurrent use.
type Cache struct {
	cfg     bus.Config
	skipped func(bus.Record, error)
	now     func() time.Time

	// reading serialises reads of the topic; mu guards the rest.
	reading   sync.Mutex
	mu        sync.RWMutex
	all       []Version
	byVersion map[string]Version
	current   map[string]Version
	readAt    time.Time
}

// NewCache is a cache of the catalogue read with cfg; skipped (may be
// nil) hears of records that do not check. Nothing is read until asked.
func NewCache(cfg bus.Config, skipped func(bus.Record, error)) *Cache {
	return &Cache{cfg: cfg, skipped: skipped, now: time.Now}
}

// Refresh reads the topic now, whatever the last read's age.
func (c *Cache) Refresh(ctx context.Context) error {
	c.reading.Lock()
	defer c.reading.Unlock()
	return c.read(ctx)
}

func (c *Cache) read(ctx context.Context) error {
	at := c.now()
	vs, _, err := Read(ctx, c.cfg, c.skipped)
	if err != nil {
		return err
	}
	by := make(map[string]Version, len(vs))
	for _, v := range vs {
		if _, ok := by[v.Version]; !ok {
			by[v.Version] = v
		}
	}
	c.mu.Lock()
	c.all, c.byVersion, c.current, c.readAt = vs, by, Current(vs), at
	c.mu.Unlock()
	return nil
}

// refresh reads the topic unless it was read within RefreshEvery (by this
// call's wait for another one, say).
func (c *Cache) refresh(ctx context.Context) error {
	c.reading.Lock()
	defer c.reading.Unlock()
	c.mu.RLock()
	fresh := !c.readAt.IsZero() && c.now().Sub(c.readAt) < RefreshEvery
	c.mu.RUnlock()
	if fresh {
		return nil
	}
	return c.read(ctx)
}

// Version is the published version of that id, read again on a miss.
func (c *Cache) Version(ctx context.Context, version string) (Version, bool, error) {
	get := func() (Version, bool) {
		c.mu.RLock()
		defer c.mu.RUnlock()
		v, ok := c.byVersion[version]
		return v, ok
	}
	if v, ok := get(); ok {
		return v, true, nil
	}
	if err := c.refresh(ctx); err != nil {
		return Version{}, false, err
	}
	v, ok := get()
	return v, ok, nil
}

// Current is the version of name new sagas start on, as read at most
// RefreshEvery ago: unlike a version, a name's current one moves on when
// another process publishes.
func (c *Cache) Current(ctx context.Context, name string) (Version, bool, error) {
	if err := c.refresh(ctx); err != nil {
		return Version{}, false, err
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	v, ok := c.current[name]
	return v, ok, nil
}

// All is every version in the order published, as read at most
// RefreshEvery ago.
func (c *Cache) All(ctx context.Context) ([]Version, error) {
	if err := c.refresh(ctx); err != nil {
		return nil, err
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.all, nil
}
