package app

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/store"
	"github.com/omen-sre/omen/telemetry"
)

// TestStopBoundedByStoreCall: a long store call in flight at shutdown
// (here a replay held in its callback, standing for a value-log GC pass of
// a retention run) no longer holds Stop past ShutdownTimeout: the store's
// close waits for it only until the shutdown deadline (it waited without
// bound), Stop reports it, and the call, once it returns, closes the
// store; calls made meanwhile fail with ErrClosed instead of blocking.
func TestStopBoundedByStoreCall(t *testing.T) {
	a := startApp(t, t.TempDir(), func(o *Options) { o.ShutdownTimeout = time.Second })
	st := a.Store()
	b := telemetry.Batch{Source: "test", Received: time.Now().UnixMilli(), Samples: []telemetry.Sample{
		{Labels: labels.FromStrings("__name__", "m", "namespace", "ns", "pod", "p"), T: time.Now().UnixMilli(), V: 1},
	}}
	if _, err := st.AppendBatches([]telemetry.Batch{b}); err != nil {
		t.Fatal(err)
	}
	entered := make(chan struct{})
	release := make(chan struct{})
	var once sync.Once
	replayed := make(chan error, 1)
	go func() {
		replayed <- st.ReplayBatches(0, func(telemetry.Batch) error {
			once.Do(func() { close(entered) })
			<-release
			return nil
		})
	}()
	<-entered

	stopped := make(chan error, 1)
	go func() { stopped <- a.Stop(context.Background()) }()
	select {
	case err := <-stopped:
		if err == nil || !strings.Contains(err.Error(), "in flight") {
			t.Errorf("Stop = %v, want an error saying a store call is still in flight", err)
		}
		if _, err := st.Checkpoint("test"); !errors.Is(err, store.ErrClosed) {
			t.Errorf("store call after Stop = %v, want ErrClosed", err)
		}
	case <-time.After(time.Minute):
		t.Errorf("Stop still waiting a minute after its 1s timeout, for a store call in flight")
		close(release)
		<-stopped
		return
	}
	close(release)
	if err := <-replayed; err != nil {
		t.Fatalf("the store call in flight: %v", err)
	}
	// It closed the store as it returned: closing again reports success.
	if err := st.Close(); err != nil {
		t.Fatalf("Close after the last call returned: %v", err)
	}
}
