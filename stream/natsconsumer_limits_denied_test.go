package stream

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/omen-sre/omen/internal/testenv"
)

// TestNATSConsumerStreamLimitsDenied: when omen's NATS user may not
// update the stream an operator created (Debian nats-server, publish to
// $JS.API.STREAM.UPDATE.> denied), Setup keeps the stream's own limits
// with a WARN saying so and goes on, within the update's own timeout:
// omen did not start at all (r6 finding 1; the stream at the old default
// 24h against omen's 3h made every such upgrade fail).
func TestNATSConsumerStreamLimitsDenied(t *testing.T) {
	url := startDebianNATSConf(t, func(port int, dir string) string {
		return fmt.Sprintf(`listen: "127.0.0.1:%d"
jetstream { store_dir: %q }
accounts {
  A {
    jetstream: enabled
    users = [
      {user: admin, password: a}
      {user: omen, password: o, permissions: { publish: { deny: ["$JS.API.STREAM.UPDATE.>", "$JS.API.STREAM.CREATE.>", "$JS.API.STREAM.DELETE.>"] } } }
    ]
  }
}
`, port, filepath.Join(dir, "js"))
	}, nats.UserInfo("admin", "a"))
	admin, err := nats.Connect(url, nats.UserInfo("admin", "a"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(admin.Close)
	ajs, err := jetstream.New(admin)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, cfg := range []jetstream.StreamConfig{
		{Name: DefaultNATSStream, Subjects: DefaultNATSSubjects, MaxAge: 24 * time.Hour, Storage: jetstream.FileStorage},
		{Name: DefaultDLQStream, Subjects: []string{DefaultDLQSubject}, MaxAge: DefaultDLQMaxAge, MaxBytes: -1, Storage: jetstream.FileStorage},
	} {
		if _, err := ajs.CreateStream(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
	nc, err := nats.Connect(url, nats.UserInfo("omen", "o"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	logs := &testenv.SyncBuffer{}
	opts := testNATSOptions()
	opts.MaxAge = 3 * time.Hour
	c, err := NewNATSConsumer(nc, &MemAppender{}, opts, nil, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer scancel()
	start := time.Now()
	if _, err := c.Setup(sctx); err != nil {
		t.Fatalf("Setup with a stream omen may not update: %v (after %v)", err, time.Since(start))
	}
	if d := time.Since(start); d > streamUpdateTimeout+5*time.Second {
		t.Errorf("Setup took %v", d)
	}
	// Run sets up again: no second wait, no second WARN.
	start = time.Now()
	if _, err := c.Setup(sctx); err != nil {
		t.Fatalf("second Setup: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("second Setup took %v: it tried the refused update again", d)
	}
	if out := logs.String(); !strings.Contains(out, "could not be updated; it keeps its own") || !strings.Contains(out, "old_max_age=24h0m0s max_age=3h0m0s") {
		t.Errorf("no WARN naming the kept limits:\n%s", out)
	} else if n := strings.Count(out, "could not be updated"); n != 1 {
		t.Errorf("the WARN was logged %d times, want once:\n%s", n, out)
	}
	st, err := ajs.Stream(ctx, DefaultNATSStream)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.CachedInfo().Config.MaxAge; got != 24*time.Hour {
		t.Errorf("stream max age %v, want the operator's 24h", got)
	}
}
