package main

import (
	"bytes"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// parseDaemonFlags parses args as omen run's (demo: omen demo's) flags and
// returns the error of daemonFlags.options.
func parseDaemonFlags(t *testing.T, demo bool, args ...string) error {
	t.Helper()
	fs := flag.NewFlagSet("omen run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var df daemonFlags
	df.register(fs, demo)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse %q: %v", args, err)
	}
	_, err := df.options(slog.New(slog.DiscardHandler))
	return err
}

// TestEmbeddedNATSLoopbackOnly: the embedded NATS server has no
// authentication; a non-loopback --nats.listen-address let anyone reaching
// it publish data and delete the stream. It is refused (before anything is
// created: options() opens nothing), for omen run and omen demo, unless
// --nats.url names an external server (then the address is unused).
func TestEmbeddedNATSLoopbackOnly(t *testing.T) {
	for _, tc := range []struct {
		addr    string
		natsURL string
		ok      bool
	}{
		{"127.0.0.1:4222", "", true},
		{"127.0.0.2:4222", "", true},
		{"localhost:4222", "", true},
		{"[::1]:4222", "", true},
		{"0.0.0.0:4222", "", false},
		{":4222", "", false},
		{"[::]:4222", "", false},
		{"192.0.2.10:4222", "", false},
		{"nats.example.com:4222", "", false},
		{"0.0.0.0:4222", "nats://nats.example.com:4222", true},
	} {
		for _, demo := range []bool{false, true} {
			args := []string{"--nats.listen-address", tc.addr}
			if tc.natsURL != "" {
				args = append(args, "--nats.url", tc.natsURL)
			}
			err := parseDaemonFlags(t, demo, args...)
			switch {
			case tc.ok && err != nil:
				t.Errorf("demo %v, %q: %v", demo, args, err)
			case !tc.ok && err == nil:
				t.Errorf("demo %v, %q: accepted, want a refusal", demo, args)
			case !tc.ok && !strings.Contains(err.Error(), "--nats.url") || !tc.ok && !strings.Contains(err.Error(), "authentication"):
				t.Errorf("demo %v, %q: %v, want it to say to run an external server with authentication (--nats.url)", demo, args, err)
			}
		}
	}
}

// TestRetentionMinimum: a retention under the entity index's refresh
// deleted live entities (--storage.retention 1m: every entity gone after
// the first retention run); it is a usage error (options() fails: exit 2)
// before anything starts.
func TestRetentionMinimum(t *testing.T) {
	for _, tc := range []struct {
		ret string
		ok  bool
	}{
		{"1m", false},
		{"10m", false},
		{"59m", false},
		{"0s", false},
		{"1h", true},
		{"15d", true},
	} {
		err := parseDaemonFlags(t, false, "--storage.retention", tc.ret)
		if tc.ok != (err == nil) {
			t.Errorf("--storage.retention %s: err %v, want ok %v", tc.ret, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "minimum 1h") {
			t.Errorf("--storage.retention %s: %v, want it to name the minimum", tc.ret, err)
		}
	}
}

// TestWebListenAddressNeedsToken: a --web.listen-address that is not
// loopback without --web.token-file is a usage error (exit 2, before
// anything is opened), for omen run and omen demo, saying to give a token
// or a loopback address, as a non-loopback --nats.listen-address is: it
// was a level=ERROR log line of app.New and exit 1.
func TestWebListenAddressNeedsToken(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		addr, token string
		ok          bool
	}{
		{"127.0.0.1:9464", "", true},
		{"localhost:9464", "", true},
		{"[::1]:9464", "", true},
		{"0.0.0.0:19507", "", false},
		{":9464", "", false},
		{"192.0.2.10:9464", "", false},
		{"0.0.0.0:19507", tokenFile, true},
	} {
		for _, demo := range []bool{false, true} {
			args := []string{"--web.listen-address", tc.addr}
			if tc.token != "" {
				args = append(args, "--web.token-file", tc.token)
			}
			err := parseDaemonFlags(t, demo, args...)
			switch {
			case tc.ok && err != nil:
				t.Errorf("demo %v, %q: %v", demo, args, err)
			case !tc.ok && err == nil:
				t.Errorf("demo %v, %q: accepted, want a refusal", demo, args)
			case !tc.ok && (!strings.Contains(err.Error(), "--web.token-file") || !strings.Contains(err.Error(), "not a loopback address")):
				t.Errorf("demo %v, %q: %v, want it to say to give a token (--web.token-file) or a loopback address", demo, args, err)
			}
		}
	}
	// Exit 2 with the message, before the store is created.
	dir := t.TempDir()
	var out, errb bytes.Buffer
	rc := dispatch([]string{"run", "--web.listen-address", "0.0.0.0:19507", "--storage.path", filepath.Join(dir, "data")}, &out, &errb)
	if rc != 2 || !strings.HasPrefix(errb.String(), `--web.listen-address "0.0.0.0:19507" is not a loopback address`) {
		t.Errorf("omen run on 0.0.0.0 without a token: exit %d, stderr %q; want 2 with a usage message", rc, errb.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
		t.Errorf("the storage path after the refusal: %v, want none", err)
	}
}

// TestRetentionHelp: --storage.retention's help names every kind of
// record the store's retention deletes by it, read from
// store.RunRetention's steps (store/retention.go), and what it keeps: it
// named feature vectors, events and predictions only (the README:
// predictions, explanations and alert history). A kind added there
// without a word here fails.
func TestRetentionHelp(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "..", "store", "retention.go"))
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]bool{}
	for _, m := range regexp.MustCompile(`expire(?:Timed|Values)\(ctx, d, [^"\n]*"(\w+)"`).FindAllSubmatch(src, -1) {
		kinds[string(m[1])] = true
	}
	for _, step := range []string{"expireOutbox", "expireLog"} {
		if bytes.Contains(src, []byte("s."+step+"(ctx, d,")) {
			kinds[step] = true
		}
	}
	if len(kinds) < 9 {
		t.Fatalf("retention steps %v: store/retention.go no longer reads as it did", kinds)
	}
	words := map[string]string{
		"vector": "feature vectors", "event": "events", "prediction": "predictions",
		"latest_prediction": "predictions", "explanation": "explanations", "entity": "entities (since last seen)",
		"alert_state": "alert history (not the firing alerts)", "expireOutbox": "Alertmanager outbox items",
		"expireLog": "ingested batches: the lookback + 1h",
	}
	fs := flag.NewFlagSet("omen run", flag.ContinueOnError)
	var df daemonFlags
	df.register(fs, false)
	help := fs.Lookup("storage.retention").Usage
	for k := range kinds {
		w, ok := words[k]
		if !ok {
			t.Errorf("retention deletes %q, which this test does not know: name it in --storage.retention's help and here", k)
			continue
		}
		if !strings.Contains(help, w) {
			t.Errorf("--storage.retention's help %q does not name %q (retention's %s)", help, w, k)
		}
	}
	if !strings.Contains(help, "feature schemas and models: always") {
		t.Errorf("--storage.retention's help %q does not say schemas and models are kept", help)
	}
}
