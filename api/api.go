package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/omen-sre/omen/store"
)

//go:embed openapi.json
var openAPIDoc []byte

// OpenAPI returns the OpenAPI 3 document of the API (a copy).
func OpenAPI() []byte { return append([]byte(nil), openAPIDoc...) }

// Options configure New.
type Options struct {
	// Backend answers every request. Required.
	Backend Backend
	// ListenAddress is the address the server listens on (host:port). When
	// its host is not a loopback address (including an empty host, which
	// means every interface), a token is required.
	ListenAddress string
	// TokenFile holds the bearer token (surrounding white space is
	// trimmed). Token gives it directly (tests); set at most one.
	TokenFile string
	Token     string
	// Models, when set, serves the model registry under /api/v1/models:
	// list, upload (register and optionally promote), promote, roll back
	// and delete, behind the same authentication.
	Models ModelAdmin
	// History, when set, serves the stored feature history under
	// /api/v1/history (for omen train --source store --url).
	History HistoryReader
	// Backup, when set, serves a backup of the daemon's store under
	// /api/v1/store/backup (POST; omen store backup --url), one at a
	// time, behind the same authentication.
	Backup StoreBackuper
	// Stop, when set, ends when the daemon stops: the long answers in
	// flight end then, at once, a write waiting on a client that stopped
	// reading included (http.Server.Shutdown waits for them and does not
	// end their requests' contexts). A backup's response is cut, and one
	// asked for afterwards answers 503 unavailable; a history stream
	// (/api/v1/history/vectors) stops its reader's scan at its next
	// vector and is cut (503 unavailable before its first vector).
	Stop context.Context
	// WriteTimeout bounds each write of a streamed answer to its client
	// (a page of the history, a backup's write): a client that reads
	// nothing for that long has its answer cut, which frees what the
	// answer held (a backup's store read transaction and its
	// one-at-a-time slot). Default 1 minute.
	WriteTimeout time.Duration
	// MaxModelBytes bounds a model upload (default DefaultMaxModelBytes).
	MaxModelBytes int64
	// UI, when set, is served under /ui/ behind the same authentication,
	// and GET / redirects to /ui/.
	UI http.Handler
	// ExplainTimeout bounds one ExplainEntity call, its wait for a slot
	// included (default 30s).
	ExplainTimeout time.Duration
	// MaxConcurrentExplains bounds concurrent ExplainEntity calls
	// (default 2); further calls wait for a slot within ExplainTimeout,
	// then answer 503 busy.
	MaxConcurrentExplains int
	// ExplainGate, when set, bounds the explanations on request instead
	// of ExplainTimeout and MaxConcurrentExplains (set neither then): the
	// UI's explain-now, given the same gate (ui.Options.ExplainGate),
	// shares its limits.
	ExplainGate *ExplainGate
	// MaxLimit caps the number of items in a list response (default 10000).
	MaxLimit int
	// RangeLimit is the limit of a range query of predictions (from or to
	// given) that sets none (default DefaultRangeLimit, at most MaxLimit).
	// Other lists (the latest predictions, alerts: one per entity at most)
	// default to MaxLimit.
	RangeLimit int
	// Registerer receives the API's metrics (default: none registered).
	Registerer prometheus.Registerer
	// Logger (default: discard).
	Logger *slog.Logger
}

// DefaultRangeLimit is Options.RangeLimit's default: a range query of
// predictions without a limit lists at most 1000 (a fleet writes one per
// entity and step), with a warning naming the next page when there are
// more.
const DefaultRangeLimit = 1000

// API serves the explanation API. Build it with New and mount it with
// Register.
type API struct {
	opts    Options
	backend Backend
	token   []byte // sha256 of the token; nil when none
	gate    *ExplainGate
	backups chan struct{} // holds the backup running (one at a time)
	// crossOrigin refuses state-changing cross-origin browser requests.
	crossOrigin *http.CrossOriginProtection
	logger      *slog.Logger
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
}

// New validates opts and builds the API.
func New(opts Options) (*API, error) {
	if opts.Backend == nil {
		return nil, errors.New("api: no backend")
	}
	gate := opts.ExplainGate
	switch {
	case gate == nil:
		var err error
		if gate, err = NewExplainGate(opts.MaxConcurrentExplains, opts.ExplainTimeout); err != nil {
			return nil, fmt.Errorf("api: %w", err)
		}
	case opts.MaxConcurrentExplains != 0 || opts.ExplainTimeout != 0:
		return nil, errors.New("api: both an explain gate and explain limits (MaxConcurrentExplains, ExplainTimeout)")
	}
	if opts.MaxLimit == 0 {
		opts.MaxLimit = 10000
	}
	if opts.MaxLimit < 0 {
		return nil, fmt.Errorf("api: negative limit %d", opts.MaxLimit)
	}
	if opts.RangeLimit == 0 {
		opts.RangeLimit = min(DefaultRangeLimit, opts.MaxLimit)
	}
	if opts.RangeLimit < 0 || opts.RangeLimit > opts.MaxLimit {
		return nil, fmt.Errorf("api: range limit %d not in [1, max limit %d]", opts.RangeLimit, opts.MaxLimit)
	}
	if opts.WriteTimeout == 0 {
		opts.WriteTimeout = defaultWriteTimeout
	}
	if opts.WriteTimeout < 0 {
		return nil, fmt.Errorf("api: negative write timeout %v", opts.WriteTimeout)
	}
	if opts.MaxModelBytes == 0 {
		opts.MaxModelBytes = DefaultMaxModelBytes
	}
	if opts.MaxModelBytes < 0 {
		return nil, fmt.Errorf("api: negative model size limit %d", opts.MaxModelBytes)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Registerer == nil {
		opts.Registerer = prometheus.NewRegistry()
	}
	token := opts.Token
	if opts.TokenFile != "" {
		if token != "" {
			return nil, errors.New("api: both a token and a token file")
		}
		t, err := ReadTokenFile(opts.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("api: %w", err)
		}
		token = t
	}
	if err := CheckListenAddress(opts.ListenAddress, token != ""); err != nil {
		return nil, fmt.Errorf("api: %w", err)
	}
	a := &API{opts: opts, backend: opts.Backend, logger: opts.Logger,
		gate: gate, crossOrigin: http.NewCrossOriginProtection(), backups: make(chan struct{}, 1)}
	a.crossOrigin.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusForbidden, "forbidden", errors.New("cross-origin request refused"))
	}))
	if token != "" {
		h := sha256.Sum256([]byte(token))
		a.token = h[:]
	}
	f := promauto.With(opts.Registerer)
	a.requests = f.NewCounterVec(prometheus.CounterOpts{
		Namespace: "omen", Subsystem: "api", Name: "requests_total",
		Help: "API and UI requests by route and status code.",
	}, []string{"handler", "code"})
	a.duration = f.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: "omen", Subsystem: "api", Name: "request_duration_seconds",
		Help:    "API and UI request latency by route.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 8),
	}, []string{"handler"})
	return a, nil
}

// ReadTokenFile reads the bearer token in path (surrounding white space
// trimmed); an empty token is an error.
func ReadTokenFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read token file: %w", err)
	}
	token := strings.TrimSpace(string(b))
	if token == "" {
		return "", fmt.Errorf("token file %q is empty", path)
	}
	return token, nil
}

// CheckListenAddress refuses a listen address that is not host:port (an
// empty host, an IP literal in brackets, a port number up to 65535 or a
// service name), and one that is not a loopback address when there is no
// token.
func CheckListenAddress(addr string, haveToken bool) error {
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		_, err = net.LookupPort("tcp", port)
	}
	if err != nil {
		return fmt.Errorf("listen address %q: %w", addr, err)
	}
	if !IsLoopback(addr) && !haveToken {
		return fmt.Errorf("listen address %q is not a loopback address: a token is required (--web.token-file)", addr)
	}
	return nil
}

// IsLoopback reports whether a listen address (host:port, or a bare host)
// binds only loopback interfaces: "localhost", 127.0.0.0/8 or ::1. An empty
// host (":9464") binds every interface and is not loopback.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr // a bare host or IPv6 literal
	}
	host = strings.Trim(host, "[]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// route is a route of the API: its handler serves methods on path; no
// methods: every method not served by a route of the same path with
// methods (a catch-all, registered without a method).
type route struct {
	methods []string
	path    string
	name    string
	handler func(w http.ResponseWriter, r *http.Request)
}

func (a *API) routes() []route {
	return []route{
		{[]string{"GET"}, "/api/v1/predictions", "predictions", a.predictions},
		{[]string{"GET"}, "/api/v1/alerts", "alerts", a.alerts},
		{[]string{"GET"}, "/api/v1/explanations/{id}", "explanation", a.explanation},
		{[]string{"POST"}, "/api/v1/entities/{entity}/explain", "explain", a.explainEntity},
		{[]string{"GET"}, "/api/v1/entities/{entity}/dependencies", "dependencies", a.dependencies},
		{[]string{"GET"}, "/api/v1/model", "model", a.model},
		{[]string{"GET"}, "/api/v1/openapi.json", "openapi", a.openapi},
	}
}

// allRoutes are the routes served: the optional model registry and
// history with the rest.
func (a *API) allRoutes() []route {
	return slices.Concat(a.routes(), a.modelRoutes(), a.historyRoutes(), a.backupRoutes())
}

// explainGetRoutes answer every method but POST on the explain-now route
// with 405, Allow: POST, and why: explaining stores an explanation (and
// may replace an alert's stored note), and a GET, which browsers send
// cross-site (a link, an image) and http.CrossOriginProtection lets
// through, must change nothing. A catch-all, not a GET route: the mux
// would list GET and HEAD in the Allow of its own 405 (PUT) then. Not an
// operation: not in allRoutes nor in openapi.json.
func (a *API) explainGetRoutes() []route {
	return []route{{nil, "/api/v1/entities/{entity}/explain", "explain_get", a.explainGet}}
}

func (a *API) explainGet(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", http.MethodPost)
	writeError(w, http.StatusMethodNotAllowed, "method_not_allowed",
		fmt.Errorf("method %s not allowed on %s (allowed: POST): explaining now stores an explanation, so it takes POST (omen explain ENTITY posts it); GET /api/v1/explanations/{id} reads a stored one",
			r.Method, r.URL.EscapedPath()))
}

// Register mounts the API (and the UI, when set) on mux.
func (a *API) Register(mux *http.ServeMux) {
	for _, rt := range slices.Concat(a.allRoutes(), a.noVersionRoutes(), a.explainGetRoutes()) {
		h := a.Protect(a.instrument(rt.name, queryOnce(http.HandlerFunc(rt.handler))))
		if len(rt.methods) == 0 {
			mux.Handle(rt.path, h)
		}
		for _, m := range rt.methods {
			mux.Handle(m+" "+rt.path, h)
		}
	}
	if a.opts.UI != nil {
		mux.Handle("/ui/", a.Protect(a.instrument("ui", a.opts.UI)))
		mux.Handle("GET /{$}", http.RedirectHandler("/ui/", http.StatusFound))
	}
}

// queryOnce answers 400 bad_data to a request that gives a query
// parameter more than once (CheckQueryOnce): no parameter of the API takes
// a list, and the handlers read a parameter's first value, so
// entity=a&entity=b listed a's predictions alone, without a word.
func queryOnce(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := CheckQueryOnce(r.URL.Query()); err != nil {
			writeError(w, http.StatusBadRequest, "bad_data", err)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// CheckQueryOnce returns an error naming a parameter of q given more than
// once (the first by name), nil when there is none.
func CheckQueryOnce(q url.Values) error {
	names := slices.Sorted(maps.Keys(q))
	for _, k := range names {
		if vs := q[k]; len(vs) > 1 {
			return repeatedError(k, vs)
		}
	}
	return nil
}

// repeatedError is the error of a parameter k given more than once, with
// the values vs: the API's and the UI's.
func repeatedError(k string, vs []string) error {
	return fmt.Errorf("parameter %s given %d times (%q): give it once", k, len(vs), vs)
}

// Handler returns a handler serving only the API (and UI); unknown API
// routes answer the JSON error envelope (JSONErrors).
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	a.Register(mux)
	return JSONErrors(mux)
}

func (a *API) instrument(name string, h http.Handler) http.Handler {
	return promhttp.InstrumentHandlerCounter(a.requests.MustCurryWith(prometheus.Labels{"handler": name}),
		promhttp.InstrumentHandlerDuration(a.duration.MustCurryWith(prometheus.Labels{"handler": name}), h))
}

// Protect wraps h with the browser protections and the token check.
// Cross-origin requests that change state (POST, PUT, …, told by
// Sec-Fetch-Site or Origin; http.CrossOriginProtection) are refused, so
// that no web page can make a browser upload, promote or delete a model
// or reload the configuration. (No GET changes state: explain-now, which
// stores an explanation, takes POST only.) Without a token (a loopback listen address)
// only requests naming a loopback host are answered, so that a page
// cannot reach the API through DNS rebinding either.
func (a *API) Protect(h http.Handler) http.Handler {
	h = a.crossOrigin.Handler(h)
	if a.token == nil {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !IsLoopback(r.Host) {
				writeError(w, http.StatusForbidden, "forbidden", fmt.Errorf("host %q: without a token (--web.token-file) omen answers only requests to a loopback host such as 127.0.0.1 or localhost", r.Host))
				return
			}
			h.ServeHTTP(w, r)
		})
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if a.authorized(r) {
			h.ServeHTTP(w, r)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/ui") || r.URL.Path == "/" || acceptsHTML(r) {
			// A browser: Basic makes it ask for a user name and password
			// (the token), and the page says so should the user cancel.
			h := w.Header()
			h.Set("WWW-Authenticate", `Basic realm="omen", charset="UTF-8"`)
			h.Set("Content-Type", "text/html; charset=utf-8")
			h.Set("Content-Security-Policy", "default-src 'none'")
			h.Set("X-Content-Type-Options", "nosniff")
			w.WriteHeader(http.StatusUnauthorized)
			page := unauthorizedPage
			if r.Header.Get("Authorization") != "" {
				page = wrongTokenPage
			}
			_, _ = io.WriteString(w, page)
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer realm="omen"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", errors.New("missing or wrong bearer token"))
	})
}

// The 401 pages a browser gets: it logs in with any user name and the
// token (--web.token-file) as the password.
const (
	unauthorizedPageHead = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>omen: log in</title></head>
<body><h1>401 Unauthorized</h1>
`
	unauthorizedPageTail = `<p>Log in with any user name and omen's token (the contents of the file given to <code>--web.token-file</code>) as the password: reload the page to be asked again.</p>
</body></html>
`
	unauthorizedPage = unauthorizedPageHead + "<p>omen wants its token.</p>\n" + unauthorizedPageTail
	wrongTokenPage   = unauthorizedPageHead + "<p>The password given is not omen's token.</p>\n" + unauthorizedPageTail
)

// acceptsHTML tells a browser's request, which accepts text/html, from
// an API client's. text/html with q=0 is refused, not accepted.
func acceptsHTML(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept") {
		for part := range strings.SplitSeq(v, ",") {
			mt, params, _ := strings.Cut(part, ";")
			if strings.EqualFold(strings.TrimSpace(mt), "text/html") && !zeroQuality(params) {
				return true
			}
		}
	}
	return false
}

// zeroQuality reports whether the parameters of a media range of an
// Accept header (after its first ';') give it q=0 (0.0, 0.000): not
// acceptable. A q that does not parse is not zero.
func zeroQuality(params string) bool {
	for p := range strings.SplitSeq(params, ";") {
		k, v, ok := strings.Cut(p, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(k), "q") {
			continue
		}
		q, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		return err == nil && q == 0
	}
	return false
}

func (a *API) authorized(r *http.Request) bool {
	var got string
	h := r.Header.Get("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		got = strings.TrimSpace(h[7:])
	} else if _, pw, ok := r.BasicAuth(); ok {
		got = pw
	} else {
		return false
	}
	sum := sha256.Sum256([]byte(got)) // equal lengths for the constant-time compare
	return subtle.ConstantTimeCompare(sum[:], a.token) == 1
}

type response struct {
	Status    string `json:"status"`
	Data      any    `json:"data,omitempty"`
	ErrorType string `json:"errorType,omitempty"`
	Error     string `json:"error,omitempty"`
	// Warnings (as in Prometheus' API) say e.g. that a list was cut at
	// its limit.
	Warnings []string `json:"warnings,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b, _ = json.Marshal(response{Status: "error", ErrorType: "internal", Error: "encode response: " + err.Error()})
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write(b)
	_, _ = w.Write([]byte("\n"))
}

func writeData(w http.ResponseWriter, data any) {
	writeJSON(w, http.StatusOK, response{Status: "success", Data: data})
}

func writeError(w http.ResponseWriter, code int, typ string, err error) {
	writeJSON(w, code, response{Status: "error", ErrorType: typ, Error: err.Error()})
}

// backendError answers an error of the backend. The transient 503s, busy
// and timeout (in practice the explain gate's: no other request has a
// deadline), carry a Retry-After (ExplainGate.RetryAfter); 503
// unavailable does not (no model loaded, or a backend that cannot explain
// now at all, lasts until an operator acts) unless the backend's error is
// a *RetryAfterError (an entity's window filling).
func (a *API) backendError(w http.ResponseWriter, r *http.Request, err error) {
	if ra := (*RetryAfterError)(nil); errors.As(err, &ra) {
		w.Header().Set("Retry-After", retryAfterSeconds(ra.After))
	}
	switch {
	case errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, "not_found", err)
	case errors.Is(err, ErrUnavailable):
		writeError(w, http.StatusServiceUnavailable, "unavailable", err)
	case errors.Is(err, ErrInvalid):
		writeError(w, http.StatusUnprocessableEntity, "invalid", err)
	case errors.Is(err, ErrConflict):
		writeError(w, http.StatusConflict, "conflict", err)
	case errors.Is(err, store.ErrDiskFull):
		// The store refuses writes while its disk is nearly full (reads
		// and model deletes go on): not the request's fault nor a bug.
		writeError(w, http.StatusInsufficientStorage, "disk_full", err)
	case errors.Is(err, ErrBusy):
		w.Header().Set("Retry-After", a.gate.RetryAfter())
		writeError(w, http.StatusServiceUnavailable, "busy", err)
	case errors.Is(err, context.DeadlineExceeded):
		w.Header().Set("Retry-After", a.gate.RetryAfter())
		writeError(w, http.StatusServiceUnavailable, "timeout", err)
	case errors.Is(err, context.Canceled):
		writeError(w, 499, "canceled", err)
	default:
		a.logger.Error("api request", "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, "internal", err)
	}
}

// parseDecimalSeconds parses Unix seconds written as [-]digits[.digits]
// exactly (a float64 loses the last millisecond of 1234.567); ok is false
// for other forms and values out of range.
func parseDecimalSeconds(s string) (time.Time, bool) {
	sec, frac, _ := strings.Cut(s, ".")
	neg := strings.HasPrefix(sec, "-")
	digits := strings.TrimPrefix(sec, "-")
	if digits == "" || len(digits) > 13 || len(frac) > 9 || strings.Trim(digits+frac, "0123456789") != "" {
		return time.Time{}, false
	}
	whole, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || whole > 1e13 {
		return time.Time{}, false
	}
	var nanos int64
	if frac != "" {
		n, err := strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
		if err != nil {
			return time.Time{}, false
		}
		nanos = n
	}
	if neg {
		whole, nanos = -whole, -nanos
	}
	return time.Unix(whole, nanos).UTC(), true
}

// maxUnixSeconds is 9999-12-31T23:59:59Z: a larger number, up to 1e13
// (exclusive), is no time in seconds but, most likely, one in
// milliseconds as the API writes them (prediction and vector times; 1e11
// to 1e13 ms is 1973 to 2286), which read as seconds lies some 50,000
// years ahead and matched nothing without a word. 1e13 itself, the range's
// limit, is what the history client sends for no bound (formatMs).
const maxUnixSeconds = 253402300799

// ParseTime parses an RFC 3339 time or Unix seconds (with a fraction).
// Unix times after the year 9999 and below 1e13 s are refused as
// probably milliseconds.
func ParseTime(s string) (time.Time, error) {
	t, ok := parseDecimalSeconds(s)
	if !ok {
		f, err := strconv.ParseFloat(s, 64)
		if err == nil {
			if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e13 {
				return time.Time{}, fmt.Errorf("time %q out of range", s)
			}
			sec, frac := math.Modf(f)
			t, ok = time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC(), true
		}
	}
	if ok {
		if t.Unix() > maxUnixSeconds && t.Unix() < 1e13 {
			return time.Time{}, fmt.Errorf("time %q is after the year 9999: give Unix seconds (or RFC 3339), not milliseconds as the API's own times are written", s)
		}
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("cannot parse %q as RFC 3339 or Unix time", s)
}

// ParseMatchers reads the label matchers match[LABEL]=VALUE of a query (nil
// when there are none). A malformed one (match[pod=x, match[]=x) or one
// given twice is an error, which the API answers with 400 bad_data: the UI
// reads its filters with it too.
func ParseMatchers(form url.Values) (map[string]string, error) {
	var m map[string]string
	for k, vs := range form {
		if !strings.HasPrefix(k, "match[") {
			continue
		}
		if !strings.HasSuffix(k, "]") || len(k) == len("match[]") {
			return nil, fmt.Errorf("matcher %q: want match[LABEL]=VALUE", k)
		}
		if len(vs) > 1 {
			return nil, repeatedError(k, vs)
		}
		if m == nil {
			m = map[string]string{}
		}
		m[k[len("match["):len(k)-1]] = vs[0]
	}
	return m, nil
}

// filters are the common list parameters.
type filters struct {
	entity   string
	matchers map[string]string
	from, to time.Time
	limit    int
	// limitSet: the request gave limit.
	limitSet bool
}

func (a *API) parseFilters(r *http.Request) (filters, error) {
	if err := r.ParseForm(); err != nil {
		return filters{}, fmt.Errorf("parse form: %w", err)
	}
	var f filters
	f.entity = r.Form.Get("entity")
	var err error
	if f.matchers, err = ParseMatchers(r.Form); err != nil {
		return filters{}, err
	}
	if s := r.Form.Get("from"); s != "" {
		if f.from, err = ParseTime(s); err != nil {
			return filters{}, fmt.Errorf("parameter from: %w", err)
		}
	}
	if s := r.Form.Get("to"); s != "" {
		if f.to, err = ParseTime(s); err != nil {
			return filters{}, fmt.Errorf("parameter to: %w", err)
		}
	}
	if !f.from.IsZero() && !f.to.IsZero() && f.to.Before(f.from) {
		return filters{}, errors.New("parameter to is before from")
	}
	f.limit = a.opts.MaxLimit
	if s := r.Form.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			return filters{}, fmt.Errorf("parameter limit %q: want a positive integer", s)
		}
		f.limit, f.limitSet = min(n, a.opts.MaxLimit), true
	}
	return f, nil
}

func (a *API) predictions(w http.ResponseWriter, r *http.Request) {
	f, err := a.parseFilters(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_data", err)
		return
	}
	if !f.limitSet && (!f.from.IsZero() || !f.to.IsZero()) {
		f.limit = a.opts.RangeLimit
	}
	q := PredictionQuery{Entity: f.entity, Matchers: f.matchers, From: f.from, To: f.to, After: r.Form.Get("after"),
		Limit: f.limit + 1} // one more: tells a cut list from a complete one
	if q.After != "" {
		if _, _, err := store.ParsePredictionID(q.After); err != nil {
			writeError(w, http.StatusBadRequest, "bad_data", fmt.Errorf("parameter after: %w", err))
			return
		}
	}
	ps, err := a.backend.Predictions(r.Context(), q)
	if err != nil {
		a.backendError(w, r, err)
		return
	}
	out := make([]Prediction, 0, len(ps))
	for _, p := range ps {
		if q.Match(p) {
			out = append(out, p)
		}
	}
	SortPredictions(out)
	var warnings []string
	if len(out) > f.limit {
		out = out[:f.limit]
		warnings = []string{fmt.Sprintf("%s %d: the next page is after=%s (with the same other parameters)", truncatedWarning,
			f.limit, out[len(out)-1].ID)}
	}
	writeJSON(w, http.StatusOK, response{Status: "success", Data: out, Warnings: warnings})
}

// truncatedWarning begins the warning of a list cut at its limit (the
// predictions, the alerts, the history's entities); HistoryClient pages
// on it.
const truncatedWarning = "results truncated at limit"

// truncated reports whether an answer's warnings say its list was cut at
// its limit.
func truncated(warnings []string) bool {
	return slices.ContainsFunc(warnings, func(w string) bool { return strings.HasPrefix(w, truncatedWarning) })
}

// SortPredictions orders predictions as the API lists them: by entity,
// then newest first.
func SortPredictions(ps []Prediction) {
	sort.SliceStable(ps, func(i, j int) bool {
		if ps[i].Entity != ps[j].Entity {
			return ps[i].Entity < ps[j].Entity
		}
		return ps[i].T > ps[j].T
	})
}

func (a *API) alerts(w http.ResponseWriter, r *http.Request) {
	f, err := a.parseFilters(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_data", err)
		return
	}
	q := AlertQuery{Entity: f.entity, Matchers: f.matchers, From: f.from, To: f.to, State: r.Form.Get("state")}
	switch q.State {
	case "", AlertPending, AlertFiring, AlertResolved:
	default:
		writeError(w, http.StatusBadRequest, "bad_data", fmt.Errorf("parameter state %q: want pending, firing or resolved", q.State))
		return
	}
	as, err := a.backend.Alerts(r.Context(), q)
	if err != nil {
		a.backendError(w, r, err)
		return
	}
	out := make([]Alert, 0, len(as))
	for _, x := range as {
		if q.Match(x) {
			out = append(out, x)
		}
	}
	SortAlerts(out)
	var warnings []string
	if len(out) > f.limit {
		out = out[:f.limit]
		warnings = []string{fmt.Sprintf("%s %d: narrow them with entity, match[…], state, from or to", truncatedWarning, f.limit)}
	}
	writeJSON(w, http.StatusOK, response{Status: "success", Data: out, Warnings: warnings})
}

// SortAlerts orders alerts as the API lists them: firing, pending, resolved;
// then by probability, highest first; then by fingerprint.
func SortAlerts(as []Alert) {
	rank := map[string]int{AlertFiring: 0, AlertPending: 1, AlertResolved: 2}
	sort.SliceStable(as, func(i, j int) bool {
		ri, rj := rank[as[i].State], rank[as[j].State]
		if ri != rj {
			return ri < rj
		}
		if as[i].Probability != as[j].Probability {
			return as[i].Probability > as[j].Probability
		}
		return as[i].Fingerprint < as[j].Fingerprint
	})
}

func (a *API) explanation(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if id == "" {
		writeError(w, http.StatusBadRequest, "bad_data", errors.New("empty id"))
		return
	}
	x, err := a.backend.Explanation(r.Context(), id)
	if errors.Is(err, ErrNotFound) {
		if perr := a.pendingNotFound(r.Context(), id); perr != nil {
			err = perr
		}
	}
	if err != nil {
		a.backendError(w, r, err)
		return
	}
	DecorateWithGraph(&x, id, a.inGraph(r.Context()))
	writeData(w, x)
}

func (a *API) explainEntity(w http.ResponseWriter, r *http.Request) {
	entity := r.PathValue("entity")
	if entity == "" {
		writeError(w, http.StatusBadRequest, "bad_data", errors.New("empty entity"))
		return
	}
	x, err := a.gate.Explain(r.Context(), a.backend, entity)
	if err != nil {
		a.backendError(w, r, err)
		return
	}
	DecorateWithGraph(&x, "", a.inGraph(r.Context()))
	writeData(w, x)
}

// GraphMember is implemented by a Backend that can say whether its
// dependency graph holds a name's node more cheaply than Dependencies,
// which also gathers the neighbourhood's evidence (the daemon's: every
// entity's). The API asks it for each name an explanation links. Safe for
// concurrent use, as the Backend.
type GraphMember interface {
	InGraph(ctx context.Context, name string) bool
}

// inGraph reports whether the backend's dependency graph holds a name:
// its InGraph when it is a GraphMember, else whether its Dependencies
// answers the name's neighbourhood rather than an error (a 404: no graph,
// or not a node of it), asked once a name for one response.
func (a *API) inGraph(ctx context.Context) func(name string) bool {
	known := map[string]bool{}
	gm, member := a.backend.(GraphMember)
	return func(name string) bool {
		ok, asked := known[name]
		if !asked {
			if member {
				ok = gm.InGraph(ctx, name)
			} else {
				_, err := a.backend.Dependencies(ctx, name)
				ok = err == nil
			}
			known[name] = ok
		}
		return ok
	}
}

func (a *API) dependencies(w http.ResponseWriter, r *http.Request) {
	entity := r.PathValue("entity")
	n, err := a.backend.Dependencies(r.Context(), entity)
	if err != nil {
		a.backendError(w, r, err)
		return
	}
	for i := range n.Nodes {
		n.Nodes[i].Link = ""
		if e := NodeEntity(n.Nodes[i]); e != "" {
			n.Nodes[i].Link = EntityUIPath(e)
		}
	}
	writeData(w, n)
}

func (a *API) model(w http.ResponseWriter, r *http.Request) {
	m, err := a.backend.ModelInfo(r.Context())
	if err != nil {
		a.backendError(w, r, err)
		return
	}
	writeData(w, m)
}

func (a *API) openapi(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDoc)
}
