package kfake

import (
	"errors"
	"fmt"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupCommit gives SyncWrites one fsync per dirty file for all the
// writes that arrived together, instead of one per batch, while keeping
// its promise: no response leaves before every write made ahead of it is
// on disk.
//
// Segment writes only mark their files dirty. The responses run() would
// send while a file is dirty or a sync is running are held instead. When
// run() is about to wait for its next event and no sync is running, it
// hands the dirty files and the held responses to a goroutine, which
// syncs the files, then sends the responses, then reports back. Writes
// and responses that come in meanwhile form the next group, so a slow
// fsync delays the responses that wait for it but not the loop (which
// waits only to close a file, see settle), and the busier the broker, the
// more writes share one fsync.
//
// Not only Produce responses are held: a Fetch, ListOffsets, a duplicate
// produce or anything else handled after a write may show that write,
// and must not before it is on disk. Only the requests in showsNoRecords
// pass, unless their own handling wrote (an InitProducerID that aborts a
// transaction): they say nothing about the log, and a client that starts
// (ApiVersions, Metadata, InitProducerID) or keeps its group membership
// (Heartbeat) need not wait for the fsyncs of others.
//
// All fields but the goroutine's arguments belong to run().
type groupCommit struct {
	writes   uint64            // segment writes ever, to tell whether a request wrote
	dirty    map[file]struct{} // written since the running sync (if any) began
	held     []heldResp        // responses waiting for dirty and running
	running  map[file]struct{} // being synced; nil when no sync runs
	finished chan struct{}     // the running sync's goroutine is done
	failed   error             // a sync on close failed: the held responses must not succeed
}

type heldResp struct {
	cc   *clientConn
	resp clientResp
}

// wrote marks f as holding data that is not yet synced.
func (g *groupCommit) wrote(f file) {
	if g.dirty == nil {
		g.dirty = make(map[file]struct{})
	}
	g.dirty[f] = struct{}{}
	g.writes++
}

// showsNoRecords are the requests whose responses reveal nothing of the
// log's records or offsets.
var showsNoRecords = map[kmsg.Key]bool{
	kmsg.ApiVersions:            true,
	kmsg.Metadata:               true,
	kmsg.FindCoordinator:        true,
	kmsg.InitProducerID:         true,
	kmsg.Heartbeat:              true,
	kmsg.JoinGroup:              true,
	kmsg.SyncGroup:              true,
	kmsg.LeaveGroup:             true,
	kmsg.ConsumerGroupHeartbeat: true,
	kmsg.SASLHandshake:          true,
	kmsg.SASLAuthenticate:       true,
	kmsg.DescribeCluster:        true,
}

// hold keeps resp to kreq back if a write ahead of it may not be on disk
// yet. writesBefore is g.writes from before kreq was handled.
func (g *groupCommit) hold(cc *clientConn, kreq kmsg.Request, writesBefore uint64, resp clientResp) bool {
	if len(g.dirty) == 0 && g.running == nil {
		return false
	}
	if kreq != nil && showsNoRecords[kmsg.Key(kreq.Key())] && g.writes == writesBefore {
		return false
	}
	g.held = append(g.held, heldResp{cc, resp})
	return true
}

// finishedC fires when the running sync is done; nil while none runs.
func (g *groupCommit) finishedC() <-chan struct{} {
	if g.running == nil {
		return nil
	}
	return g.finished
}

// finish records that the running sync, and the sends of its
// responses, are done.
func (g *groupCommit) finish() { g.running = nil }

// startGroupCommit begins the next group if no sync runs. Held responses that wait
// for no dirty file (they waited for the sync that just finished) are
// sent right away; c.die closed means the loop must return.
func (c *Cluster) startGroupCommit() (dead bool) {
	g := &c.gc
	if g.running != nil {
		return false
	}
	held, failed := g.held, g.failed
	g.held, g.failed = nil, nil
	if len(g.dirty) == 0 {
		return !c.sendHeld(held, failed)
	}
	files := make([]file, 0, len(g.dirty))
	for f := range g.dirty {
		files = append(files, f)
	}
	g.running, g.dirty = g.dirty, nil
	if g.finished == nil {
		g.finished = make(chan struct{}, 1)
	}
	go c.syncGroup(files, held, failed, g.finished)
	return false
}

// syncGroup runs off the loop: it syncs files, then sends the responses
// that waited for them. The files are synced at once: a journaling
// filesystem commits concurrent fsyncs together.
func (c *Cluster) syncGroup(files []file, held []heldResp, err error, finished chan<- struct{}) {
	defer func() { finished <- struct{}{} }()
	errs := make([]error, len(files))
	var wg sync.WaitGroup
	for i, f := range files {
		wg.Go(func() { errs[i] = f.Sync() })
	}
	wg.Wait()
	if err == nil {
		err = errors.Join(errs...)
	}
	c.sendHeld(held, err)
}

// sendHeld sends held responses, or, if a sync they waited for failed,
// an error in their place, which closes their connections: the client
// does not learn of a write that may not be on disk, and retries it. It
// returns false if the cluster is shutting down.
func (c *Cluster) sendHeld(held []heldResp, err error) bool {
	if err != nil && len(held) > 0 {
		c.cfg.logger.Logf(LogLevelWarn, "sync writes: %v; closing the %d connections waiting for it", err, len(held))
	}
	for _, h := range held {
		resp := h.resp
		if err != nil {
			resp = clientResp{corr: resp.corr, err: fmt.Errorf("sync writes: %w", err)}
		}
		select {
		case h.cc.respCh <- resp:
		case <-h.cc.done:
		case <-c.die:
			return false
		}
	}
	return true
}

// settle is called by run() before it closes f: a running sync of f is
// waited for, and unsynced data in f is synced here, so that closing a
// file (segment roll, shutdown, delete) never drops what a held response
// waits for.
func (c *Cluster) settle(f file) {
	g := &c.gc
	if _, ok := g.running[f]; ok {
		select {
		case <-g.finished:
			g.finish()
		case <-c.die:
		}
	}
	if _, ok := g.dirty[f]; ok {
		if err := f.Sync(); err != nil && g.failed == nil {
			g.failed = err
		}
		delete(g.dirty, f)
	}
}
