package stream

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/omen-sre/omen/internal/testenv"
	"github.com/omen-sre/omen/stream/natsembed"
)

// smallStore is the JetStream file store of smallStoreServers: smaller
// than the 1 GiB dead-letter bound omen once applied by default.
const smallStore = 512 << 20

// smallStoreServers start the servers of natsServers with a JetStream
// file store of smallStore bytes (max_file_store).
var smallStoreServers = []struct {
	name  string
	start func(t *testing.T) string
}{
	{"embedded", func(t *testing.T) string {
		srv, err := natsembed.Start(natsembed.Options{ListenAddress: "127.0.0.1:0", StoreDir: t.TempDir(), MaxStore: smallStore})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Shutdown)
		return srv.ClientURL()
	}},
	{"debian", startSmallDebianNATS},
}

// startSmallDebianNATS starts Debian's nats-server with JetStream and a
// file store of smallStore bytes on a random loopback port, and returns
// its URL once JetStream answers.
func startSmallDebianNATS(t *testing.T) string {
	t.Helper()
	return startDebianNATSConf(t, func(port int, dir string) string {
		return fmt.Sprintf("listen: \"127.0.0.1:%d\"\njetstream {\n  store_dir: %q\n  max_file_store: %d\n}\n", port, filepath.Join(dir, "js"), smallStore)
	})
}

// startDebianNATSConf starts Debian's nats-server with the configuration
// conf gives for a random loopback port and a temporary directory, stops
// it at the end of t, and returns its URL once JetStream answers a client
// connecting with opts.
func startDebianNATSConf(t *testing.T, conf func(port int, dir string) string, opts ...nats.Option) string {
	t.Helper()
	dir := t.TempDir()
	port := testenv.FreePort(t)
	file := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(file, []byte(conf(port, dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	srv := testenv.Start(t, "nats-server", testenv.NATSServerBin, "-c", file)
	url := fmt.Sprintf("nats://127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		nc, err := nats.Connect(url, opts...)
		if err == nil {
			js, jerr := jetstream.New(nc)
			if jerr == nil {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				_, err = js.AccountInfo(ctx)
				cancel()
			} else {
				err = jerr
			}
			nc.Close()
			if err == nil {
				return url
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("nats-server (%s) not ready: %v; output:\n%s", file, err, srv.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestNATSConsumerSmallFileStore: on a server whose JetStream file store
// is smaller than 1 GiB, Setup with the default options succeeds (a 1 GiB
// default for the dead-letter stream made it fail: JetStream reserves a
// stream's max bytes), and a bound the store has no room for fails with
// an error naming the configuration key to lower: the dead-letter
// stream's, at creation and at the update of an existing one, and the
// stream's at its creation.
func TestNATSConsumerSmallFileStore(t *testing.T) {
	for _, ns := range smallStoreServers {
		t.Run(ns.name, func(t *testing.T) {
			verifyNoLeaks(t)
			setup := func(url string, opts NATSOptions) error {
				nc, _ := connectJS(t, url)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_, err := newConsumer(t, nc, &MemAppender{}, opts, nil).Setup(ctx)
				return err
			}
			expectHint := func(err error, key string) {
				t.Helper()
				if err == nil || !strings.Contains(err.Error(), "lower "+key) || !strings.Contains(err.Error(), "max_file_store") {
					t.Fatalf("Setup: %v; want an error naming %s", err, key)
				}
			}
			tooLarge := int64(1 << 30)

			url := ns.start(t)
			if err := setup(url, testNATSOptions()); err != nil {
				t.Fatalf("Setup with the default options on a %d-byte file store: %v", smallStore, err)
			}
			opts := testNATSOptions()
			opts.DLQMaxBytes = tooLarge
			expectHint(setup(url, opts), "nats.dead_letter_max_bytes") // update of OMEN_DLQ

			url = ns.start(t)
			opts = testNATSOptions()
			opts.MaxBytes = tooLarge
			expectHint(setup(url, opts), "nats.max_bytes") // creation of OMEN
			opts = testNATSOptions()
			opts.DLQMaxBytes = tooLarge
			expectHint(setup(url, opts), "nats.dead_letter_max_bytes") // creation of OMEN_DLQ

			// Another stream's reserve fills the store: the unbounded
			// OMEN is refused, and the hint does not blame nats.max_bytes
			// (code reviewer's finding: it said to lower it).
			url = ns.start(t)
			_, js := connectJS(t, url)
			if _, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "OTHER", Subjects: []string{"other"}, Storage: jetstream.FileStorage, MaxBytes: smallStore}); err != nil {
				t.Fatal(err)
			}
			err := setup(url, testNATSOptions())
			if err == nil || strings.Contains(err.Error(), "lower nats.max_bytes") || !strings.Contains(err.Error(), "nats.max_bytes is unbounded") {
				t.Fatalf("Setup with another stream filling the store: %v; want the unbounded hint", err)
			}
		})
	}
}
