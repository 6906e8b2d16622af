package testenv

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestFreePort(t *testing.T) {
	p := FreePort(t)
	if p <= 0 || p > 65535 {
		t.Fatalf("FreePort = %d", p)
	}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
	if err != nil {
		t.Fatalf("port %d not usable: %v", p, err)
	}
	l.Close()
}

func TestNATSServer(t *testing.T) {
	url := NATSServer(t)
	if !strings.HasPrefix(url, "nats://127.0.0.1:") {
		t.Fatalf("url = %q", url)
	}
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(url, "nats://"), 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("read INFO: %v", err)
	}
	info := string(buf[:n])
	if !strings.HasPrefix(info, "INFO ") || !strings.Contains(info, `"jetstream":true`) {
		t.Fatalf("unexpected greeting (JetStream not enabled?): %s", info)
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("decode %s: %v", url, err)
	}
}

func TestPrometheus(t *testing.T) {
	url := Prometheus(t, "")
	var flags struct {
		Data map[string]string `json:"data"`
	}
	getJSON(t, url+"/api/v1/status/flags", &flags)
	if got := flags.Data["web.enable-remote-write-receiver"]; got != "true" {
		t.Fatalf("remote-write receiver flag = %q, want true", got)
	}
	if got := flags.Data["web.listen-address"]; !strings.HasPrefix(got, "127.0.0.1:") {
		t.Fatalf("listen address = %q, want loopback", got)
	}
}

func TestAlertmanager(t *testing.T) {
	url := Alertmanager(t)
	var status struct {
		Cluster struct {
			Status string `json:"status"`
		} `json:"cluster"`
		Config struct {
			Original string `json:"original"`
		} `json:"config"`
	}
	getJSON(t, url+"/api/v2/status", &status)
	if status.Cluster.Status != "disabled" {
		t.Fatalf("cluster status = %q, want disabled", status.Cluster.Status)
	}
	if !strings.Contains(status.Config.Original, "default") {
		t.Fatalf("config not loaded: %q", status.Config.Original)
	}
}

// TestVerifyNoLeaksAfterCleanup starts a component after VerifyNoLeaks:
// its goroutines are gone by the time the check runs.
func TestVerifyNoLeaksAfterCleanup(t *testing.T) {
	t.Run("inner", func(t *testing.T) {
		VerifyNoLeaks(t)
		_ = NATSServer(t)
	})
}

func TestStablePort(t *testing.T) {
	for range 20 {
		p := StablePort(t)
		if p < 20000 || p >= 32000 {
			t.Fatalf("port %d outside 20000-31999 (the ephemeral range starts at 32768)", p)
		}
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Fatalf("port %d: %v", p, err)
		}
		_ = l.Close()
	}
}

func TestSyncBufferMax(t *testing.T) {
	b := &SyncBuffer{Max: 4}
	for _, s := range []string{"ab", "cde", "fg"} {
		if n, err := b.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	if got := b.String(); got != "abcde" {
		t.Fatalf("kept %q, want writes dropped once beyond Max: abcde", got)
	}
}
