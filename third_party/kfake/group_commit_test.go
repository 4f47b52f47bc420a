package kfake

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestSyncWritesGroupCommit: with SyncWrites, produce requests that arrive
// together share one fsync, the broker keeps handling requests while an
// fsync runs, no produce is acknowledged before the fsync that covers it,
// and every acknowledged record is in the log after a crash that loses
// whatever was not synced.
//
// Eight producers on connections of their own send one-record requests to
// one partition. The first segment fsync is held until all eight first
// writes are in the file: the seven that came after it must wait for a
// second fsync, and no producer may have been answered yet.
func TestSyncWritesGroupCommit(t *testing.T) {
	const (
		clients   = 8
		perClient = 25
		topic     = "gc"
	)
	var acked atomic.Int64
	fsys := newCrashFS()
	fsys.firstSegSync = func() error {
		if !fsys.waitSegWrites(clients, 10*time.Second) {
			return fmt.Errorf("only %d of %d writes came in while the first fsync ran: the broker waited for it", fsys.segWrites.Load(), clients)
		}
		if n := acked.Load(); n != 0 {
			return fmt.Errorf("%d produces acknowledged while the fsync that covers the first write was running", n)
		}
		return nil
	}
	c := MustCluster(NumBrokers(1), withFS(fsys), SyncWrites(), SeedTopics(1, topic))
	addrs := c.ListenAddrs()

	type ack struct {
		offset int64
		value  string
	}
	var (
		mu   sync.Mutex
		acks []ack
		wg   sync.WaitGroup
		errs = make(chan error, clients)

		// A crash halfway, while produces are in flight.
		midAcks  []ack
		midImage *memFS
	)
	for i := range clients {
		wg.Go(func() {
			cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(0))
			if err != nil {
				errs <- err
				return
			}
			defer cl.Close()
			for j := range perClient {
				r := &kgo.Record{Value: fmt.Appendf(nil, "%d-%d", i, j)}
				if err := cl.ProduceSync(context.Background(), r).FirstErr(); err != nil {
					errs <- err
					return
				}
				acked.Add(1)
				mu.Lock()
				acks = append(acks, ack{r.Offset, string(r.Value)})
				if len(acks) == clients*perClient/2 {
					// Every ack so far came after its sync, so
					// before the image.
					midAcks = append([]ack(nil), acks...)
					midImage = fsys.crash()
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("produce: %v", err)
	}
	if err := fsys.gateErr; err != nil {
		t.Fatal(err)
	}
	writes, syncs := fsys.segWrites.Load(), fsys.segSyncs.Load()
	t.Logf("%d produce requests written with %d segment fsyncs", writes, syncs)
	if syncs >= writes {
		t.Errorf("%d segment fsyncs for %d writes: they should be shared", syncs, writes)
	}

	// Crash: only what was synced survives. Closing the old cluster
	// afterwards writes to the old filesystem, not to the images.
	image := fsys.crash()
	c.Close()
	for _, crash := range []struct {
		name  string
		image *memFS
		acks  []ack
	}{{"halfway", midImage, midAcks}, {"at the end", image, acks}} {
		want := make(map[int64]string, len(crash.acks))
		for _, a := range crash.acks {
			want[a.offset] = a.value
		}
		if lost := readAfterCrash(t, crash.image, topic, want); len(lost) > 0 {
			t.Errorf("crash %s: %d of %d acknowledged records lost: %s", crash.name, len(lost), len(want), strings.Join(lost, ", "))
		}
	}
}

// readAfterCrash starts a broker on image and returns the records of want
// (offset to value) that partition 0 of topic does not hold.
func readAfterCrash(t *testing.T, image *memFS, topic string, want map[int64]string) []string {
	c := MustCluster(NumBrokers(1), withFS(image), SyncWrites())
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	found := 0
	got := make(map[int64]string)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // not a timing assertion: what is missing is reported below
	defer cancel()
	for found < len(want) && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) {
			got[r.Offset] = string(r.Value)
			if v, ok := want[r.Offset]; ok && v == string(r.Value) {
				found++
			}
		})
	}
	var lost []string
	for off, v := range want {
		if got[off] != v {
			lost = append(lost, fmt.Sprintf("%s@%d (found %q)", v, off, got[off]))
		}
	}
	return lost
}

// crashFS is a memFS that remembers how much of each file was synced, so
// that crash can return what a machine crash would leave: every file cut
// back to its synced length, files never synced gone. It counts writes to
// and syncs of segment files, and can hold the first segment sync.
type crashFS struct {
	*memFS
	synced map[*memFileData]int // guarded by memFS.mu

	segWrites, segSyncs atomic.Int64
	firstSegSync        func() error // run once, before the first segment sync
	gateOnce            sync.Once
	gateErr             error
}

func newCrashFS() *crashFS {
	return &crashFS{memFS: newMemFS(), synced: make(map[*memFileData]int)}
}

type crashFile struct {
	*memFile
	fs  *crashFS
	seg bool
}

func (c *crashFS) OpenFile(name string, flag int, perm os.FileMode) (file, error) {
	f, err := c.memFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	mf := f.(*memFile)
	if flag&os.O_TRUNC != 0 {
		c.mu.Lock()
		delete(c.synced, mf.d)
		c.mu.Unlock()
	}
	return &crashFile{mf, c, strings.HasSuffix(name, ".dat")}, nil
}

func (f *crashFile) Write(b []byte) (int, error) {
	n, err := f.memFile.Write(b)
	if f.seg && err == nil {
		f.fs.segWrites.Add(1)
	}
	return n, err
}

func (f *crashFile) Sync() error {
	if f.seg {
		f.fs.gateOnce.Do(func() {
			if f.fs.firstSegSync != nil {
				f.fs.gateErr = f.fs.firstSegSync()
			}
		})
		f.fs.segSyncs.Add(1)
	}
	if err := f.memFile.Sync(); err != nil {
		return err
	}
	f.fs.mu.Lock()
	f.fs.synced[f.d] = len(f.d.data)
	f.fs.mu.Unlock()
	return nil
}

func (f *crashFile) Truncate(size int64) error {
	if err := f.memFile.Truncate(size); err != nil {
		return err
	}
	f.fs.mu.Lock()
	f.fs.synced[f.d] = min(f.fs.synced[f.d], int(size))
	f.fs.mu.Unlock()
	return nil
}

// waitSegWrites reports whether n segment writes happened within d.
func (c *crashFS) waitSegWrites(n int64, d time.Duration) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if c.segWrites.Load() >= n {
			return true
		}
	}
	return false
}

// crash returns a new filesystem holding only what was synced.
func (c *crashFS) crash() *memFS {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := newMemFS()
	for name, d := range c.files {
		n, ok := c.synced[d]
		if !ok {
			continue
		}
		out.files[name] = &memFileData{data: append([]byte(nil), d.data[:min(n, len(d.data))]...), modTime: d.modTime}
	}
	for dir := range c.dirs {
		out.dirs[dir] = true
	}
	return out
}

// BenchmarkSyncWritesProduce: one-record produce requests, each waited
// for, from concurrent producers of a SyncWrites broker whose data is on
// the disk (b.TempDir). It reports the segment fsyncs per write; ns/op is
// the time per acknowledged request of all producers together.
func BenchmarkSyncWritesProduce(b *testing.B) {
	for _, producers := range []int{1, 16} {
		b.Run(fmt.Sprintf("producers=%d", producers), func(b *testing.B) {
			fsys := &countFS{}
			c := MustCluster(NumBrokers(1), DataDir(b.TempDir()), withFS(fsys), SyncWrites(), SeedTopics(4, "bench"))
			defer c.Close()
			var clients []*kgo.Client
			for range producers {
				cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("bench"), kgo.ProducerLinger(0))
				if err != nil {
					b.Fatal(err)
				}
				defer cl.Close()
				if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: []byte("warm")}).FirstErr(); err != nil {
					b.Fatal(err)
				}
				clients = append(clients, cl)
			}
			value := make([]byte, 300)
			writes, syncs := fsys.writes.Load(), fsys.syncs.Load()
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			for _, cl := range clients {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						if err := cl.ProduceSync(context.Background(), &kgo.Record{Value: value}).FirstErr(); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(fsys.syncs.Load()-syncs)/float64(fsys.writes.Load()-writes), "fsyncs/write")
		})
	}
}

// countFS is the disk, counting writes to and syncs of segment files.
type countFS struct {
	osFS
	writes, syncs atomic.Int64
}

type countFile struct {
	file
	fs  *countFS
	seg bool
}

func (c *countFS) OpenFile(name string, flag int, perm os.FileMode) (file, error) {
	f, err := c.osFS.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &countFile{f, c, strings.HasSuffix(name, ".dat")}, nil
}

func (f *countFile) Write(b []byte) (int, error) {
	if f.seg {
		f.fs.writes.Add(1)
	}
	return f.file.Write(b)
}

func (f *countFile) Sync() error {
	if f.seg {
		f.fs.syncs.Add(1)
	}
	return f.file.Sync()
}
