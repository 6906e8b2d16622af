package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/omen-sre/omen/store"
)

// HistoryReader reads the stored feature history the API serves under
// /api/v1/history, for training from a running daemon (which holds the
// store: omen train --source store --url). *store.Store implements it.
// The contract of every part is the store's: safe for concurrent use,
// the results are the caller's, times are ms since the epoch, and a
// missing record is an error wrapping store.ErrNotFound. Its methods
// read local data and take no context; the API's client, HistoryClient,
// takes one a call. The API stops a scan (Vectors) whose request ended
// at its next vector: fn returns the request context's error.
type HistoryReader interface {
	SchemaReader
	EntityLister
	VectorScanner
}

// SchemaReader reads the feature schemas the history's vectors are laid
// out by (HistoryReader's contract).
type SchemaReader interface {
	// Schema returns the current schema (store.ErrNotFound: nothing
	// stored yet).
	Schema() (store.Schema, error)
	// Schemas returns every recorded schema version, oldest first: the
	// layouts of older vectors, which training maps by name.
	Schemas() ([]store.Schema, error)
}

// EntityLister lists the entities of the history (HistoryReader's
// contract). The API cuts the list into pages; a reader that also has
// EntitiesAfter(after string, limit int) is read a page at a time.
type EntityLister interface {
	// Entities returns every stored entity, ordered by ID.
	Entities() ([]store.EntityInfo, error)
}

// VectorScanner scans an entity's stored vectors (HistoryReader's
// contract).
type VectorScanner interface {
	// Vectors calls fn, in time order, for each vector of entity with
	// from ≤ T ≤ to (ms). fn owns the vector; an error from fn stops the
	// scan and is returned (wrapped). The API reads a page of vectors at
	// a time (stopping the scan with its own error), then continues after
	// the page's last time.
	Vectors(entity string, from, to int64, fn func(store.Vector) error) error
}

// HistorySettings are the daemon's settings that training from its
// history needs: the step its vectors are stored at and its alert rule
// (omen train --url chooses the failure threshold by what that rule would
// have done). A HistoryReader that also implements
// HistorySettings() HistorySettings has them served with the schema.
type HistorySettings struct {
	StepMs int64 `json:"step_ms"`
	// AlertFor is alerting.for (steps), AlertResolveRatio
	// alerting.resolve_ratio, AlertMinLeadMs alerting.min_lead.
	AlertFor          int     `json:"alert_for"`
	AlertResolveRatio float64 `json:"alert_resolve_ratio"`
	// AlertResolveFor is alerting.resolve_for (steps below the resolve
	// threshold before an alert resolves); 0 (absent): an older omen,
	// which resolved at the first step below (1).
	AlertResolveFor int   `json:"alert_resolve_for,omitempty"`
	AlertMinLeadMs  int64 `json:"alert_min_lead_ms"`
	// PresenceFeatures name the features whose value makes a stored
	// vector a row of the entity's windows (app.PresenceFeatures: the
	// instant PromQL features); a vector with none of them was stored only
	// for its failure label, the entity being absent, and training leaves
	// it out of its windows as the daemon does (storesource.Source's
	// Presence). Empty, not nil: every vector is a row. nil (absent): an
	// older omen, which does not say.
	PresenceFeatures []string `json:"presence_features"`
	// AlertCriticalProbability is alerting.critical_probability: an alert
	// whose probability reaches it is critical (omen train warns when the
	// model's failure threshold is at or above it). nil (absent) when
	// unset (AlertCriticalFromModel says so), or from an older omen, which
	// does not say: an omen train of before models carried a critical
	// probability read 0 as set, and warned that every alert was critical.
	AlertCriticalProbability *float64 `json:"alert_critical_probability,omitempty"`
	// AlertCriticalFromModel is true when alerting.critical_probability
	// is unset: the model's critical probability applies
	// (model.Thresholds' Critical, else 0.9). false (absent): set, or an
	// older omen.
	AlertCriticalFromModel bool `json:"alert_critical_from_model,omitempty"`
}

// historySchema is the schema endpoint's answer.
type historySchema struct {
	store.Schema
	Settings *HistorySettings `json:"settings,omitempty"`
}

// History paths.
const (
	HistorySchemaPath   = "/api/v1/history/schema"
	HistorySchemasPath  = "/api/v1/history/schemas"
	HistoryEntitiesPath = "/api/v1/history/entities"
	HistoryVectorsPath  = "/api/v1/history/vectors"
)

// HistoryEntity is one entity of the history.
type HistoryEntity struct {
	ID        string            `json:"id"`
	Labels    map[string]string `json:"labels,omitempty"`
	FirstSeen int64             `json:"first_seen"` // ms
	LastSeen  int64             `json:"last_seen"`  // ms
}

func (a *API) historyRoutes() []route {
	if a.opts.History == nil {
		return nil
	}
	return []route{
		{[]string{"GET"}, HistorySchemaPath, "history_schema", a.historySchema},
		{[]string{"GET"}, HistorySchemasPath, "history_schemas", a.historySchemas},
		{[]string{"GET"}, HistoryEntitiesPath, "history_entities", a.historyEntities},
		{[]string{"GET"}, HistoryVectorsPath, "history_vectors", a.historyVectors},
	}
}

func (a *API) historySchema(w http.ResponseWriter, r *http.Request) {
	s, err := a.opts.History.Schema()
	if err != nil {
		a.backendError(w, r, storeError(err))
		return
	}
	out := historySchema{Schema: s}
	if hs, ok := a.opts.History.(interface{ HistorySettings() HistorySettings }); ok {
		st := hs.HistorySettings()
		out.Settings = &st
	}
	writeData(w, out)
}

func (a *API) historySchemas(w http.ResponseWriter, r *http.Request) {
	ss, err := a.opts.History.Schemas()
	if err != nil {
		a.backendError(w, r, storeError(err))
		return
	}
	if ss == nil {
		ss = []store.Schema{}
	}
	writeData(w, ss)
}

// historyEntities lists the stored entities in ID order, at most limit
// (default MaxLimit) after the entity after= names: a list cut at its
// limit says so in a warning naming the after= of the next page, as the
// predictions list does.
func (a *API) historyEntities(w http.ResponseWriter, r *http.Request) {
	f, err := a.parseFilters(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_data", err)
		return
	}
	after := r.Form.Get("after")
	es, err := a.historyEntityPage(after, f.limit+1) // one more: tells a cut list from a complete one
	if err != nil {
		a.backendError(w, r, storeError(err))
		return
	}
	var warnings []string
	if len(es) > f.limit {
		es = es[:f.limit]
		warnings = []string{fmt.Sprintf("%s %d: the next page is after=%s", truncatedWarning, f.limit, es[len(es)-1].ID)}
	}
	out := make([]HistoryEntity, len(es))
	for i, e := range es {
		out[i] = HistoryEntity{ID: e.ID, Labels: e.Labels, FirstSeen: e.FirstSeen, LastSeen: e.LastSeen}
	}
	writeJSON(w, http.StatusOK, response{Status: "success", Data: out, Warnings: warnings})
}

// historyEntityPage returns at most limit entities after after, in ID
// order: read as a page when the reader can (*store.Store: EntitiesAfter),
// else cut from the whole list.
func (a *API) historyEntityPage(after string, limit int) ([]store.EntityInfo, error) {
	if p, ok := a.opts.History.(interface {
		EntitiesAfter(after string, limit int) ([]store.EntityInfo, error)
	}); ok {
		return p.EntitiesAfter(after, limit)
	}
	es, err := a.opts.History.Entities()
	if err != nil {
		return nil, err
	}
	i, _ := slices.BinarySearchFunc(es, after, func(e store.EntityInfo, id string) int { return strings.Compare(e.ID, id) })
	for i < len(es) && es[i].ID <= after {
		i++
	}
	es = es[i:]
	return es[:min(len(es), limit)], nil
}

// historyVectors streams one entity's vectors between from and to as
// newline-delimited JSON, one vector per line: {"t":ms,"s":schema,
// "v":[values, null for a missing one],"f":[failure labels]}; the last
// line is {"end":true,"n":count}, so that a client tells a complete answer
// from a cut one.
func (a *API) historyVectors(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	entity := q.Get("entity")
	if entity == "" {
		writeError(w, http.StatusBadRequest, "bad_data", errors.New("entity is required"))
		return
	}
	var from, to int64 = math.MinInt64, math.MaxInt64
	for _, p := range []struct {
		name string
		dst  *int64
	}{{"from", &from}, {"to", &to}} {
		if s := q.Get(p.name); s != "" {
			t, err := ParseTime(s)
			if err != nil {
				writeError(w, http.StatusBadRequest, "bad_data", fmt.Errorf("%s: %w", p.name, err))
				return
			}
			*p.dst = t.UnixMilli()
		}
	}
	if from > to {
		writeError(w, http.StatusBadRequest, "bad_data", errors.New("from is after to"))
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	rc := http.NewResponseController(w)
	bw := bufio.NewWriterSize(w, 64<<10)
	// The answer ends when the client goes away or omen stops
	// (Options.Stop): then at once, a write waiting on the client
	// included (abort sets its deadline to now; each page's deadline is
	// set before done is checked, so none outlives the stop). Once
	// answered (answering), abort does nothing. Options.Stop cancels ctx
	// from a goroutine of its own, a little later: done checks the stop
	// itself first, so that nothing is scanned or written after it.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	if a.opts.Stop != nil {
		defer context.AfterFunc(a.opts.Stop, cancel)()
	}
	done := func() bool { return a.stopping() || ctx.Err() != nil }
	var (
		abortMu   sync.Mutex
		answering bool
	)
	defer context.AfterFunc(ctx, func() {
		abortMu.Lock()
		defer abortMu.Unlock()
		if !answering {
			_ = rc.SetWriteDeadline(time.Now())
		}
	})()
	var buf []byte
	n := 0
	// Page through the store: a page is read (the store's read lock and
	// transaction held only meanwhile) before it is written, so a client
	// that stops reading holds no store resource, and a write that stalls
	// for Options.WriteTimeout ends the answer (a cut stream, no end line).
	// A client gone or omen stopping (done) stops the scan at the
	// reader's next vector, not at the end of its page: the reader's
	// scan is not bounded in time (HistoryReader's methods take no
	// context), so a slow one could scan a whole page for no one.
	page := make([]store.Vector, 0, historyPage)
	for {
		page = page[:0]
		err := a.opts.History.Vectors(entity, from, to, func(v store.Vector) error {
			if done() {
				return context.Canceled
			}
			page = append(page, v)
			if len(page) == historyPage {
				return errPageFull
			}
			return nil
		})
		if done() {
			if a.stopping() && n == 0 {
				abortMu.Lock()
				answering = true
				_ = rc.SetWriteDeadline(time.Now().Add(a.opts.WriteTimeout))
				abortMu.Unlock()
				a.backendError(w, r, fmt.Errorf("read the history of %q: omen is stopping (%w)", entity, ErrUnavailable))
			}
			return // the client is gone, or omen stops: the missing end line tells the client
		}
		if err != nil && !errors.Is(err, errPageFull) {
			if n == 0 {
				a.backendError(w, r, storeError(err))
				return
			}
			// Headers are sent: the missing end line tells the client.
			a.logger.Warn("history stream cut", "entity", entity, "vectors", n, "err", err)
			_ = bw.Flush()
			return
		}
		_ = rc.SetWriteDeadline(time.Now().Add(a.opts.WriteTimeout))
		if done() {
			return
		}
		for _, v := range page {
			buf = appendVector(buf[:0], v)
			if _, err := bw.Write(buf); err != nil {
				return // the client is gone or stalled
			}
		}
		n += len(page)
		if len(page) < historyPage || done() {
			break
		}
		last := page[len(page)-1].T
		if last == math.MaxInt64 {
			break
		}
		from = last + 1
	}
	if done() {
		return
	}
	fmt.Fprintf(bw, "{\"end\":true,\"n\":%d}\n", n)
	_ = bw.Flush()
}

// historyPage is how many vectors the history endpoint reads from the
// store at a time; defaultWriteTimeout is Options.WriteTimeout's default,
// which bounds writing one page (and each write of a backup).
const (
	historyPage         = 4096
	defaultWriteTimeout = time.Minute
)

var errPageFull = errors.New("page full")

// appendVector appends v as one JSON line (non-finite values as null).
func appendVector(b []byte, v store.Vector) []byte {
	b = append(b, `{"t":`...)
	b = strconv.AppendInt(b, v.T, 10)
	b = append(b, `,"s":`...)
	b = strconv.AppendUint(b, uint64(v.Schema), 10)
	b = append(b, `,"v":[`...)
	for i, x := range v.Values {
		if i > 0 {
			b = append(b, ',')
		}
		if math.IsNaN(x) || math.IsInf(x, 0) {
			b = append(b, "null"...)
		} else {
			b = strconv.AppendFloat(b, x, 'g', -1, 64)
		}
	}
	b = append(b, `],"f":[`...)
	for i, f := range v.Failure {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendBool(b, f)
	}
	return append(b, "]}\n"...)
}

// storeError maps the store's not-found to the API's.
func storeError(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: %w", ErrNotFound, err)
	}
	return err
}

// HistoryClient reads a running daemon's feature history through its API,
// the methods of HistoryReader with a context: ctx bounds each call (its
// request and, for Vectors, the whole stream) and cancels it. It is safe
// for concurrent use when its Client is. Times are ms since the epoch.
type HistoryClient struct {
	Client *Client
}

// Schema returns the daemon's current schema (HistoryReader's Schema).
// Its error wraps store.ErrNotFound when the daemon has no schema yet
// (nothing stored).
func (h HistoryClient) Schema(ctx context.Context) (store.Schema, error) {
	var s store.Schema
	_, err := h.Client.Do(ctx, http.MethodGet, HistorySchemaPath, &s)
	if errors.Is(err, ErrNotFound) {
		return s, fmt.Errorf("schema: %w", store.ErrNotFound)
	}
	return s, err
}

// Settings returns the daemon's HistorySettings, nil (and no error) when
// it does not serve them (an older omen). Its error wraps store.ErrNotFound
// when the daemon has no schema yet (nothing stored).
func (h HistoryClient) Settings(ctx context.Context) (*HistorySettings, error) {
	var s historySchema
	_, err := h.Client.Do(ctx, http.MethodGet, HistorySchemaPath, &s)
	if errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("schema: %w", store.ErrNotFound)
	}
	return s.Settings, err
}

// Schemas returns every schema version the daemon recorded, oldest first
// (HistoryReader's Schemas). Its error wraps store.ErrNotFound when the
// daemon does not serve the list.
func (h HistoryClient) Schemas(ctx context.Context) ([]store.Schema, error) {
	var ss []store.Schema
	_, err := h.Client.Do(ctx, http.MethodGet, HistorySchemasPath, &ss)
	// A daemon that does not serve the list (one older than the list
	// answers its mux's plain 404): training reads the vectors of the
	// current schema only.
	if ae := (*Error)(nil); errors.Is(err, ErrNotFound) || errors.As(err, &ae) && ae.StatusCode == http.StatusNotFound {
		return nil, fmt.Errorf("schemas: %w (%w)", store.ErrNotFound, err)
	}
	return ss, err
}

// Entities returns every stored entity in ID order (HistoryReader's
// Entities). It reads the list page by page (the daemon cuts it at its
// API's limit, 10000 by default), following each cut page's after=, in
// one request a page: ctx bounds them all.
func (h HistoryClient) Entities(ctx context.Context) ([]store.EntityInfo, error) {
	var out []store.EntityInfo
	after := ""
	for {
		path := HistoryEntitiesPath
		if after != "" {
			path += "?" + url.Values{"after": {after}}.Encode()
		}
		var es []HistoryEntity
		_, warnings, err := h.Client.do(ctx, http.MethodGet, path, "", nil, &es)
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			out = append(out, store.EntityInfo{ID: e.ID, Labels: e.Labels, FirstSeen: e.FirstSeen, LastSeen: e.LastSeen})
		}
		if !truncated(warnings) || len(es) == 0 {
			return out, nil
		}
		last := es[len(es)-1].ID
		if last <= after {
			return nil, fmt.Errorf("history entities: the page after %q ends at %q: the daemon does not page the list", after, last)
		}
		after = last
	}
}

// Vectors calls fn with each of entity's vectors with from ≤ T ≤ to (ms,
// inclusive) in time order, as they arrive from the daemon's stream
// (HistoryReader's Vectors): fn owns each vector, and an error from fn
// stops the stream and is returned. A stream cut before its end line is
// an error. ctx bounds the whole stream, fn's time included.
func (h HistoryClient) Vectors(ctx context.Context, entity string, from, to int64, fn func(store.Vector) error) error {
	q := url.Values{"entity": {entity},
		"from": {formatMs(from)}, "to": {formatMs(to)}}
	body, err := h.Client.stream(ctx, HistoryVectorsPath+"?"+q.Encode())
	if err != nil {
		return err
	}
	defer body.Close()
	dec := json.NewDecoder(bufio.NewReaderSize(body, 64<<10))
	for n := 0; ; n++ {
		var line struct {
			T   int64      `json:"t"`
			S   uint32     `json:"s"`
			V   []*float64 `json:"v"`
			F   []bool     `json:"f"`
			End bool       `json:"end"`
			N   int        `json:"n"`
		}
		if err := dec.Decode(&line); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("history of %q: cut after %d vectors: %w", entity, n, err)
		}
		if line.End {
			if line.N != n {
				return fmt.Errorf("history of %q: %d vectors received, %d sent", entity, n, line.N)
			}
			return nil
		}
		v := store.Vector{Entity: entity, T: line.T, Schema: line.S, Values: make([]float64, len(line.V)), Failure: line.F}
		for i, x := range line.V {
			v.Values[i] = math.NaN()
			if x != nil {
				v.Values[i] = *x
			}
		}
		if err := fn(v); err != nil {
			return err
		}
	}
}

// formatMs formats ms since the epoch as Unix seconds with exact
// milliseconds for ParseTime (clamped to its range).
func formatMs(ms int64) string {
	const lim = int64(1e13) * 1000
	ms = max(min(ms, lim), -lim)
	sign := ""
	if ms < 0 {
		sign, ms = "-", -ms
	}
	return fmt.Sprintf("%s%d.%03d", sign, ms/1000, ms%1000)
}

// httpToHTTPS is the body of net/http's 400 answer to a plain HTTP
// request on a TLS listener.
const httpToHTTPS = "Client sent an HTTP request to an HTTPS server."

// stream sends a GET and returns the body of a successful answer; an
// error answer is decoded as Do does.
func (c *Client) stream(ctx context.Context, path string) (io.ReadCloser, error) {
	resp, err := c.send(ctx, http.MethodGet, path, "", nil)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 == 2 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/x-ndjson") {
		return resp.Body, nil
	}
	defer resp.Body.Close()
	return nil, c.decodeError(resp, http.MethodGet, path)
}

// decodeError turns a non-success answer into an *Error.
func (c *Client) decodeError(resp *http.Response, method, path string) error {
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var r struct {
		ErrorType string `json:"errorType"`
		Error     string `json:"error"`
	}
	if err := json.Unmarshal(data, &r); err != nil || r.Error == "" {
		return notOmen(resp, data, method, path)
	}
	return c.apiError(resp.StatusCode, r.ErrorType, r.Error)
}

// notOmen is the error of an answer that is not omen's API (a wrong URL,
// a proxy's page): the status and the content type, not the page (body,
// nil when not read). Go's HTTPS server's answer to plain HTTP (a daemon
// with --web.tls-cert-file asked at http://) says to use https://.
func notOmen(resp *http.Response, body []byte, method, path string) *Error {
	if resp.StatusCode == http.StatusBadRequest && bytes.Contains(body, []byte(httpToHTTPS)) {
		return &Error{StatusCode: resp.StatusCode, Type: BadResponse,
			Message: fmt.Sprintf("%s %s: the server answers HTTPS, not plain HTTP (%s, %q): use an https:// URL",
				method, path, resp.Status, httpToHTTPS)}
	}
	return &Error{StatusCode: resp.StatusCode, Type: BadResponse,
		Message: fmt.Sprintf("%s %s: not an omen API response (%s, %q): is the URL omen's web address?",
			method, path, resp.Status, resp.Header.Get("Content-Type"))}
}
