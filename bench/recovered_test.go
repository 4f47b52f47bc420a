package bench

import "testing"

// TestFindRecovered reads the recovery line whole, after a fragment of a
// GC trace on the same line (as an orchestrator run with gctrace=1 writes
// it), and not from lines that only mention it.
func TestFindRecovered(t *testing.T) {
	line := `{"level":"info","service":"orchestrator","partitions":[0,1],"running":7,"ended":3,"took":8.1,"message":"recovered sagas from the log"}`
	for name, tc := range map[string]struct {
		out  string
		want bool
	}{
		"alone":            {out: line + "\n", want: true},
		"after gc trace":   {out: "gc 3 @0.796s 0%: 0.064+5.4+0.011 ms clock, 0.12\n+0.060/0.45/0.70+0.023" + line + "\n ms cpu, 3->3->1 MB\n", want: true},
		"brace in prefix":  {out: "x{y" + line + "\n", want: true},
		"no line":          {out: "gc 1 @0.1s 0%: 3->3->0 MB\n", want: false},
		"message in a key": {out: `{"level":"info","note":"recovered sagas from the log","message":"other"}` + "\n", want: false},
		"truncated":        {out: line[:60] + "\n", want: false},
	} {
		t.Run(name, func(t *testing.T) {
			r, ok := findRecovered(tc.out)
			if ok != tc.want {
				t.Fatalf("found %v, want %v", ok, tc.want)
			}
			if ok && (r.Running != 7 || r.Ended != 3 || r.Took != 8.1) {
				t.Errorf("read %+v, want running 7, ended 3, took 8.1", r)
			}
		})
	}
}

// TestGCHeap counts a collection whose trace line a log line split.
func TestGCHeap(t *testing.T) {
	out := "gc 1 @0.647s 0%: 0.94+2.2+0.003 ms clock, 1.8+0.24/1.9/0.062+0.007 ms cpu, 3->3->0 MB, 4 MB goal, 2 P\n" +
		"gc 2 @0.796s 0%: 0.064+5.4+0.011 ms clock, 0.12" + `{"level":"info","message":"a"}` + "\n" +
		"+0.060/0.45/0.70+0.023" + `{"level":"info","message":"b"}` + "\n" +
		" ms cpu, 9->9->5 MB, 10 MB goal, 2 P\n" +
		"gc 3 @0.9s 0%: 0.1+0.1+0.1 ms clock, 0.1+0.1/0.1/0.1+0.1 ms cpu, 6->6->2 MB, 8 MB goal, 2 P\n"
	g := gcHeap(out)
	if g.n != 3 || g.last != 2<<20 || g.peak != 5<<20 {
		t.Errorf("gcHeap = %+v, want 3 collections, last 2 MiB, peak 5 MiB", g)
	}
}
