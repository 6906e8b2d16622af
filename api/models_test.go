package api_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/store"
)

// TestModelRegistry drives the model endpoints through Client: upload,
// promote, rollback, their errors, and the token.
func TestModelRegistry(t *testing.T) {
	ctx := context.Background()
	mm := &api.MemModels{Check: func(b []byte) error {
		if bytes.HasPrefix(b, []byte("bad")) {
			return errors.New("not a model file")
		}
		return nil
	}}
	srv := newServer(t, &api.MemBackend{}, api.Options{Models: mm, Token: "s3cret", MaxModelBytes: 1 << 10})
	c := &api.Client{URL: srv.URL, Token: "s3cret"}

	if _, err := (&api.Client{URL: srv.URL}).Models(ctx); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("list without the token: %v, want 401", err)
	}
	if ms, err := c.Models(ctx); err != nil || len(ms) != 0 {
		t.Fatalf("empty registry: %v, %v", ms, err)
	}
	a, err := c.AddModel(ctx, []byte("model A"), api.AddOptions{})
	if err != nil || a.Version == "" || a.Active || a.Size != 7 {
		t.Fatalf("add A: %+v, %v", a, err)
	}
	b, err := c.AddModel(ctx, []byte("model B"), api.AddOptions{Promote: true})
	if err != nil || !b.Active {
		t.Fatalf("add and promote B: %+v, %v", b, err)
	}
	if _, err := c.AddModel(ctx, []byte("bad model"), api.AddOptions{Promote: true}); !errors.Is(err, api.ErrInvalid) {
		t.Fatalf("add a refused file: %v, want ErrInvalid (422)", err)
	}
	if v, err := c.SetActive(ctx, a.Version); err != nil || v.Version != a.Version || !v.Active {
		t.Fatalf("promote A: %+v, %v", v, err)
	}
	if _, err := c.SetActive(ctx, "nope"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("promote an unknown version: %v, want ErrNotFound", err)
	}
	if v, err := c.SetActive(ctx, ""); err != nil || v.Version != b.Version || !v.Active {
		t.Fatalf("roll back to B: %+v, %v", v, err)
	}
	if _, err := c.SetActive(ctx, ""); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("roll back past the first promotion: %v, want ErrNotFound", err)
	}
	ms, err := c.Models(ctx)
	if err != nil || len(ms) != 2 || ms[0].Version != b.Version || !ms[0].Active || ms[1].Active {
		t.Fatalf("list: %+v, %v (want B active, then A)", ms, err)
	}

	for _, tc := range []struct {
		name, method, path, body string
		want                     int
	}{
		{"empty body", "POST", "/api/v1/models", "", http.StatusBadRequest},
		{"bad promote flag", "POST", "/api/v1/models?promote=maybe", "x", http.StatusBadRequest},
		{"list by POST to a version", "GET", "/api/v1/models/x/promote", "", http.StatusMethodNotAllowed},
		{"too large", "POST", "/api/v1/models", strings.Repeat("x", 1<<10+1), http.StatusRequestEntityTooLarge},
	} {
		if code := modelRequest(t, tc.method, srv.URL+tc.path, tc.body); code != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, code, tc.want)
		}
	}
}

// TestDeleteModel: DELETE /api/v1/models/{version} removes a version
// that is not active and drops it from the rollback history; the active
// version is refused with 409 (ErrConflict), an unknown one with 404, and
// the token is required.
func TestDeleteModel(t *testing.T) {
	ctx := context.Background()
	srv := newServer(t, &api.MemBackend{}, api.Options{Models: &api.MemModels{}, Token: "s3cret"})
	c := &api.Client{URL: srv.URL, Token: "s3cret"}
	var vs []api.ModelVersion
	for _, f := range []string{"model 1", "model 2", "model 3"} { // promoted in turn: 3 is active
		v, err := c.AddModel(ctx, []byte(f), api.AddOptions{Promote: true})
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	if _, err := (&api.Client{URL: srv.URL}).DeleteModel(ctx, vs[0].Version); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("delete without the token: %v, want 401", err)
	}
	for _, tc := range []struct {
		name, version string
		want          error // nil: deleted
	}{
		{"active", vs[2].Version, api.ErrConflict},
		{"unknown", "nope", api.ErrNotFound},
		{"the rollback target", vs[1].Version, nil},
		{"again", vs[1].Version, api.ErrNotFound},
	} {
		v, err := c.DeleteModel(ctx, tc.version)
		switch {
		case tc.want != nil && !errors.Is(err, tc.want):
			t.Errorf("%s: delete %s: %v, want %v", tc.name, tc.version, err, tc.want)
		case tc.want == nil && (err != nil || v.Version != tc.version || v.Active || v.SHA256 != vs[1].SHA256):
			t.Errorf("%s: delete %s: %+v, %v", tc.name, tc.version, v, err)
		}
	}
	var apiErr *api.Error
	if _, err := c.DeleteModel(ctx, vs[2].Version); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusConflict || apiErr.Type != "conflict" {
		t.Errorf("delete the active version: %v, want 409 conflict", err)
	}
	ms, err := c.Models(ctx)
	if err != nil || len(ms) != 2 || ms[0].Version != vs[2].Version || ms[1].Version != vs[0].Version {
		t.Fatalf("list after the delete: %+v, %v (want 3, 1)", ms, err)
	}
	// The deleted version left the history: the rollback skips it.
	if v, err := c.SetActive(ctx, ""); err != nil || v.Version != vs[0].Version {
		t.Fatalf("roll back after deleting the previous version: %+v, %v, want %s", v, err, vs[0].Version)
	}
	if _, err := c.SetActive(ctx, ""); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("roll back past the first promotion: %v, want ErrNotFound", err)
	}
}

// TestModelRoutesNeedAdmin: without Options.Models the registry is not
// served.
func TestModelRoutesNeedAdmin(t *testing.T) {
	srv := newServer(t, &api.MemBackend{}, api.Options{})
	if code, _ := get(t, "GET", srv.URL+"/api/v1/models", ""); code != http.StatusNotFound {
		t.Fatalf("GET /api/v1/models without a registry: %d, want 404", code)
	}
}

// TestClientNotOmen: a URL that answers with something else than omen's
// API gives a short error naming the status, not the page.
func TestClientNotOmen(t *testing.T) {
	srv := newServer(t, &api.MemBackend{}, api.Options{})
	_, err := (&api.Client{URL: srv.URL}).Do(context.Background(), "GET", "/nothing-here", nil)
	if err == nil || !strings.Contains(err.Error(), "not an omen API response") || !strings.Contains(err.Error(), "404") {
		t.Fatalf("err = %v", err)
	}
}

// TestClientHTTPToHTTPS: a client given an http:// URL of a server that
// serves HTTPS (a daemon with --web.tls-cert-file) is told to use an
// https:// URL, by every kind of request (JSON, a stream, a backup),
// instead of "not an omen API response".
func TestClientHTTPToHTTPS(t *testing.T) {
	a, err := api.New(api.Options{Backend: &api.MemBackend{}, ListenAddress: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(a.Handler())
	srv.Config.ErrorLog = slog.NewLogLogger(slog.DiscardHandler, slog.LevelError) // the handshake errors of the plain requests
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c := &api.Client{URL: "http://" + strings.TrimPrefix(srv.URL, "https://")}
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		do   func() error
	}{
		{"Do", func() error { _, err := c.Do(ctx, "GET", "/api/v1/status", nil); return err }},
		{"Backup", func() error { _, err := c.Backup(ctx, io.Discard); return err }},
		{"History", func() error {
			return api.HistoryClient{Client: c}.Vectors(ctx, "shop/cart-0", 0, 1, func(store.Vector) error { return nil })
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do()
			if err == nil || !strings.Contains(err.Error(), "use an https:// URL") || strings.Contains(err.Error(), "not an omen API response") {
				t.Fatalf("err = %v, want it to say to use an https:// URL", err)
			}
		})
	}
}

// TestBrowserProtections: without a token only loopback host names are
// answered (DNS rebinding); cross-origin requests that change state are
// refused, with or without a token (browsers send cached Basic
// credentials); an upload must be application/octet-stream.
func TestBrowserProtections(t *testing.T) {
	open := newServer(t, &api.MemBackend{}, api.Options{Models: &api.MemModels{}})
	tok := newServer(t, &api.MemBackend{}, api.Options{Models: &api.MemModels{}, Token: "s3cret"})
	for _, tc := range []struct {
		name    string
		srv     string
		method  string
		path    string
		headers map[string]string
		basic   bool
		want    int
	}{
		{"loopback host", open.URL, "GET", "/api/v1/models", nil, false, http.StatusOK},
		{"localhost", open.URL, "GET", "/api/v1/models", map[string]string{"Host": "localhost:9464"}, false, http.StatusOK},
		{"rebound host", open.URL, "GET", "/api/v1/models", map[string]string{"Host": "attacker.example"}, false, http.StatusForbidden},
		{"cross-site upload", open.URL, "POST", "/api/v1/models?promote=true",
			map[string]string{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site", "Content-Type": "application/octet-stream"}, false, http.StatusForbidden},
		{"cross-site rollback by Origin alone", open.URL, "POST", "/api/v1/models/rollback", map[string]string{"Origin": "http://evil.example"}, false, http.StatusForbidden},
		{"cross-site delete", open.URL, "DELETE", "/api/v1/models/m1", map[string]string{"Sec-Fetch-Site": "cross-site"}, false, http.StatusForbidden},
		{"delete through a rebound host", open.URL, "DELETE", "/api/v1/models/m1", map[string]string{"Host": "attacker.example"}, false, http.StatusForbidden},
		{"same-origin delete of an unknown version", open.URL, "DELETE", "/api/v1/models/m1", map[string]string{"Sec-Fetch-Site": "same-origin"}, false, http.StatusNotFound},
		{"cross-site delete with Basic credentials", tok.URL, "DELETE", "/api/v1/models/m1",
			map[string]string{"Sec-Fetch-Site": "cross-site"}, true, http.StatusForbidden},
		{"delete without the token", tok.URL, "DELETE", "/api/v1/models/m1", nil, false, http.StatusUnauthorized},
		{"same-origin upload", open.URL, "POST", "/api/v1/models",
			map[string]string{"Sec-Fetch-Site": "same-origin", "Content-Type": "application/octet-stream"}, false, http.StatusCreated},
		{"upload as text", open.URL, "POST", "/api/v1/models", map[string]string{"Content-Type": "text/plain"}, false, http.StatusUnsupportedMediaType},
		{"cross-site with Basic credentials", tok.URL, "POST", "/api/v1/models/rollback",
			map[string]string{"Sec-Fetch-Site": "cross-site"}, true, http.StatusForbidden},
		{"other host with the token", tok.URL, "GET", "/api/v1/models", map[string]string{"Host": "omen.example"}, true, http.StatusOK},
	} {
		req, _ := http.NewRequest(tc.method, tc.srv+tc.path, strings.NewReader("model"))
		for k, v := range tc.headers {
			if k == "Host" {
				req.Host = v
			} else {
				req.Header.Set(k, v)
			}
		}
		if tc.basic {
			req.SetBasicAuth("x", "s3cret")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, resp.StatusCode, tc.want)
		}
	}
}

// slowReader sends its data in pieces with a pause between them.
type slowReader struct {
	data  []byte
	pause time.Duration
}

func (s *slowReader) Read(p []byte) (int, error) {
	if len(s.data) == 0 {
		return 0, io.EOF
	}
	time.Sleep(s.pause)
	n := copy(p, s.data[:min(len(s.data), 16)])
	s.data = s.data[n:]
	return n, nil
}

// TestSlowModelUpload: a model upload may take longer than the server's
// read timeout (which suits small requests).
func TestSlowModelUpload(t *testing.T) {
	a, err := api.New(api.Options{Backend: &api.MemBackend{}, Models: &api.MemModels{}, ListenAddress: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(a.Handler())
	srv.Config.ReadTimeout = 200 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	body := &slowReader{data: bytes.Repeat([]byte("m"), 160), pause: 60 * time.Millisecond} // ≈ 0.6 s
	req, _ := http.NewRequest("POST", srv.URL+"/api/v1/models", body)
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("slow upload: status %d, want 201", resp.StatusCode)
	}
}

// TestAddModelVersion: POST /api/v1/models?version=NAME (Client.AddModel
// with AddOptions.Version) registers the file under exactly that name,
// which the query escapes; a name taken by other data or deleted is
// refused with 409 (not renamed), an unusable one with 422, an empty
// version= with 400.
func TestAddModelVersion(t *testing.T) {
	ctx := context.Background()
	srv := newServer(t, &api.MemBackend{}, api.Options{Models: &api.MemModels{}, Token: "s3cret"})
	c := &api.Client{URL: srv.URL, Token: "s3cret"}
	old, err := c.AddModel(ctx, []byte("model old"), api.AddOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteModel(ctx, old.Version); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, file, version string
		promote             bool
		want                error // nil: registered under version
	}{
		{"override", "model A", "v1 new+&=?#", true, nil},
		{"same file again", "model A", "v1 new+&=?#", false, nil},
		{"taken by other data", "model B", "v1 new+&=?#", false, api.ErrConflict},
		{"deleted", "model old", old.Version, false, api.ErrConflict},
		{"deleted file under a new name", "model old", "v2", false, nil},
		{"dot-dot", "model C", "..", false, api.ErrInvalid},
		{"white space around it", "model C", " v3", false, api.ErrInvalid},
		{"blank", "model C", " \t", false, api.ErrInvalid},
		{"control character", "model C", "v\x01", false, api.ErrInvalid},
	} {
		v, err := c.AddModel(ctx, []byte(tc.file), api.AddOptions{Version: tc.version, Promote: tc.promote})
		switch {
		case tc.want != nil && !errors.Is(err, tc.want):
			t.Errorf("%s: add as %q: %+v, %v, want %v", tc.name, tc.version, v, err, tc.want)
		case tc.want == nil && (err != nil || v.Version != tc.version || (tc.promote && !v.Active) || v.Size != int64(len(tc.file))):
			t.Errorf("%s: add as %q: %+v, %v", tc.name, tc.version, v, err)
		}
	}
	ms, err := c.Models(ctx)
	if err != nil || len(ms) != 2 || ms[0].Version != "v2" || ms[1].Version != "v1 new+&=?#" || !ms[1].Active {
		t.Fatalf("list: %+v, %v (want v2, then the active v1 new+&=?#)", ms, err)
	}

	if code := modelRequest(t, "POST", srv.URL+"/api/v1/models?version=", "model D"); code != http.StatusBadRequest {
		t.Errorf("empty version=: status %d, want 400", code)
	}
	// A version given twice is refused, not the first one taken.
	if code := modelRequest(t, "POST", srv.URL+"/api/v1/models?version=v4&version=v5", "model D"); code != http.StatusBadRequest {
		t.Errorf("version=v4&version=v5: status %d, want 400", code)
	}
	if ms, err := c.Models(ctx); err != nil || len(ms) != 2 {
		t.Errorf("after the refused uploads: %+v, %v, want the 2 versions above", ms, err)
	}
}

// modelRequest sends body to url with the test token as a model file and
// returns the status.
func modelRequest(t *testing.T, method, url, body string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer s3cret")
	req.Header.Set("Content-Type", "application/octet-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}
