package app

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// TestPprof: --web.enable-pprof serves the runtime profiles under
// /debug/pprof/ behind the API's protection (the token when one is set, a
// loopback Host otherwise); without it there is no such route. The daemon
// had no profiling endpoint, so its memory could not be profiled live
// (reviewer r1 finding 9).
func TestPprof(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	type req struct {
		path, host, token string
		want              int
	}
	for _, tc := range []struct {
		name   string
		enable bool
		token  bool
		reqs   []req
	}{
		{"off", false, false, []req{{"/debug/pprof/heap", "", "", http.StatusNotFound}, {"/debug/pprof/", "", "", http.StatusNotFound}}},
		{"on with a token", true, true, []req{
			{"/debug/pprof/heap", "", "", http.StatusUnauthorized},
			{"/debug/pprof/heap", "", "wrong", http.StatusUnauthorized},
			{"/debug/pprof/heap", "", "s3cret", http.StatusOK},
			{"/debug/pprof/", "", "s3cret", http.StatusOK},
			{"/debug/pprof/goroutine?debug=1", "", "s3cret", http.StatusOK},
			{"/debug/pprof/cmdline", "", "", http.StatusUnauthorized},
		}},
		{"on without a token", true, false, []req{
			{"/debug/pprof/heap", "", "", http.StatusOK},
			{"/debug/pprof/heap", "rebound.example:9464", "", http.StatusForbidden},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := startApp(t, t.TempDir(), func(o *Options) {
				o.EnablePprof = tc.enable
				if tc.token {
					o.TokenFile = tokenFile
				}
			})
			for _, r := range tc.reqs {
				hr, err := http.NewRequest(http.MethodGet, "http://"+a.Addr()+r.path, nil)
				if err != nil {
					t.Fatal(err)
				}
				if r.host != "" {
					hr.Host = r.host
				}
				if r.token != "" {
					hr.Header.Set("Authorization", "Bearer "+r.token)
				}
				resp, err := http.DefaultClient.Do(hr)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != r.want {
					t.Errorf("%s (host %q, token %q): %d, want %d: %.200s", r.path, r.host, r.token, resp.StatusCode, r.want, body)
				}
				if r.want == http.StatusOK && len(body) == 0 {
					t.Errorf("%s: empty profile", r.path)
				}
			}
		})
	}
}
