package stream

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/prompb"

	"github.com/omen-sre/omen/telemetry"
)

// The label cache forgets the label sets of series that stopped sending
// (churned pods): after 20,000 series sent once, while 100 keep sending,
// it holds the 100 within two LabelCacheIdle instead of 20,100 for good
// (the sets, their keys and the map's buckets: ~8 MB here, 55 MB after
// the reviewer's 150,000 churned pods).
func TestRemoteWriteLabelCacheForgetsIdle(t *testing.T) {
	const idle = 5 * time.Minute
	var mu sync.Mutex
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	h, _ := newTestReceiver(t, &MemAppender{CountOnly: true}, RemoteWriteOptions{LabelCacheIdle: idle, Now: clock})
	send := func(prefix string, n int) {
		t.Helper()
		var wr prompb.WriteRequest
		ts := clock().UnixMilli()
		for i := range n {
			wr.Timeseries = append(wr.Timeseries, series(1, ts, "__name__", "kube_pod_info", "namespace", "ns", "pod", fmt.Sprintf("%s-%d", prefix, i)))
		}
		if rec := post(h, encodeWriteRequest(t, &wr), nil); rec.Code != 204 {
			t.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
	send("keep", 100)
	send("churn", 20_000)
	if n := h.limits.Load().cache.len(); n != 20_100 {
		t.Fatalf("after the churn the cache holds %d sets, want 20100", n)
	}
	// The keepers send every 30s for 2×idle + 1m.
	for range int((2*idle + time.Minute) / (30 * time.Second)) {
		advance(30 * time.Second)
		send("keep", 100)
	}
	if n := h.limits.Load().cache.len(); n != 100 {
		t.Fatalf("%s after the churned series stopped the cache holds %d sets, want the 100 still sending", 2*idle+time.Minute, n)
	}

	// Negative: never forgotten (the cache's bounds only).
	h, _ = newTestReceiver(t, &MemAppender{CountOnly: true}, RemoteWriteOptions{LabelCacheIdle: -1, Now: clock})
	send("churn", 1000)
	advance(24 * time.Hour)
	send("keep", 1)
	if n := h.limits.Load().cache.len(); n != 1001 {
		t.Fatalf("LabelCacheIdle -1: cache holds %d sets, want 1001", n)
	}
}

// A set used in every period stays the same interned value across agings
// (the Head finds its series by the set's address); one unused for two
// periods is built afresh; the bounds count both generations.
func TestLabelCacheAge(t *testing.T) {
	const idle = time.Minute
	t0 := time.Unix(1_800_000_000, 0)
	key := func(pod string) []byte {
		b, err := (&prompb.TimeSeries{Labels: []prompb.Label{{Name: "__name__", Value: "m"}, {Name: "pod", Value: pod}}}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		return b // the label fields, as the decoder keys them
	}
	var sb labels.ScratchBuilder
	get := func(c *labelCache, pod string) labels.Labels {
		t.Helper()
		ls, rej, err := c.get(key(pod), &sb)
		if err != nil || rej != nil {
			t.Fatalf("get %s: %v %v", pod, err, rej)
		}
		return ls
	}
	same := func(a, b labels.Labels) bool {
		pa, na := telemetry.LabelsData(&a)
		pb, nb := telemetry.LabelsData(&b)
		return pa == pb && na == nb
	}
	c := newLabelCache(1<<10, 0, labelLimits{}, idle, t0)
	first, old := get(c, "a"), get(c, "b")
	if !labels.Equal(first, labels.FromStrings("__name__", "m", "pod", "a")) {
		t.Fatalf("labels %v", first)
	}
	c.age(t0.Add(idle - time.Second)) // too early: nothing moves
	c.age(t0.Add(idle))               // a and b to the previous generation
	if l := get(c, "a"); !same(l, first) {
		t.Fatal("a set used in the last period was built afresh")
	}
	c.age(t0.Add(idle + time.Second)) // too early since the last aging
	c.age(t0.Add(2 * idle))           // b dropped, a kept
	if n := c.len(); n != 1 {
		t.Fatalf("after two periods the cache holds %d sets, want 1", n)
	}
	if l := get(c, "a"); !same(l, first) {
		t.Fatal("a set used in every period was built afresh")
	}
	if l := get(c, "b"); same(l, old) {
		t.Fatal("a set unused for two periods is still cached")
	}

	// The entry bound counts both generations: the older goes first.
	c = newLabelCache(2*cacheShards, 0, labelLimits{}, idle, t0)
	for i := range 10 * cacheShards {
		get(c, fmt.Sprint(i))
		if i == 5*cacheShards {
			c.age(t0.Add(idle))
		}
	}
	if n := c.len(); n > 2*cacheShards {
		t.Fatalf("cache holds %d sets, bound %d", n, 2*cacheShards)
	}
}
