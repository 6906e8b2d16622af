package main

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/store"
)

// TestClientTokenMessages: every command that calls the API says the same
// of the API's 401, telling a missing token (give --token-file) from a
// wrong one; only omen explain said the first ("missing or wrong bearer
// token (401 unauthorized)" elsewhere, and after it in explain's).
func TestClientTokenMessages(t *testing.T) {
	dir := t.TempDir()
	tokenFile, wrongFile := filepath.Join(dir, "token"), filepath.Join(dir, "wrong")
	for f, tok := range map[string]string{tokenFile: "s3cret-token\n", wrongFile: "nope\n"} {
		if err := os.WriteFile(f, []byte(tok), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	st, err := store.Open(store.Options{InMemory: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	a, err := api.New(api.Options{Backend: &api.MemBackend{}, Models: &api.MemModels{}, History: st, Backup: st,
		ListenAddress: "127.0.0.1:0", TokenFile: tokenFile})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	commands := [][]string{
		{"train", "--out", filepath.Join(dir, "m.omen")},
		{"model", "list"},
		{"model", "promote", "v1"},
		{"model", "rollback"},
		{"explain", "shop/app-0"},
		{"store", "backup", "--out", filepath.Join(dir, "b.backup")},
	}
	for _, tc := range []struct {
		name  string
		flags []string
		want  string
	}{
		{"missing", nil, "the API wants a token: give --token-file (401 unauthorized)"},
		{"wrong", []string{"--token-file", wrongFile}, "the API refused the token of --token-file: not the daemon's (its --web.token-file) (401 unauthorized)"},
	} {
		for _, cmd := range commands {
			args := append(append(append([]string(nil), cmd...), "--url", srv.URL), tc.flags...)
			rc, _, errs := omen(t, args...)
			if rc != 1 || !strings.Contains(errs, tc.want) || strings.Count(errs, "\n") != 1 || strings.Contains(errs, "bearer") {
				t.Errorf("%s token: omen %q = %d, stderr %q; want 1, one line with %q", tc.name, args, rc, errs, tc.want)
			}
		}
	}
}
