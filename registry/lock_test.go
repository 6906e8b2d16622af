package registry

import (
	"testing"
	"time"

	"github.com/omen-sre/omen/store"
)

// A registry made by ForDaemon without a daemon serialises its changes
// as New's does: it took no lock at all, so two changes could check and
// install at once (reviewer's finding).
func TestForDaemonNilSerialises(t *testing.T) {
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	for name, r := range map[string]*Registry{"New": New(st, "t"), "ForDaemon(nil)": ForDaemon(st, nil, "t")} {
		unlock := r.lock()
		second := make(chan struct{})
		go func() {
			defer close(second)
			r.lock()()
		}()
		select {
		case <-second:
			t.Errorf("%s: a second change took the lock while the first held it", name)
		case <-time.After(50 * time.Millisecond):
		}
		unlock()
		<-second
	}
}
