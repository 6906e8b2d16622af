package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/internal/clientsettings"
	"github.com/omen-sre/omen/internal/errclass"
	"github.com/omen-sre/omen/internal/httptransport"
	"github.com/omen-sre/omen/internal/promurl"
	"github.com/omen-sre/omen/internal/redact"
	"github.com/omen-sre/omen/telemetry"
)

// PollerOptions configure a Poller.
type PollerOptions struct {
	// URL is the Prometheus base URL, e.g. http://127.0.0.1:9090, with
	// the path Prometheus serves under behind a reverse proxy or with
	// --web.route-prefix (http://proxy/prometheus), without /api/v1: see
	// CheckPrometheusURL. Required.
	URL string
	// Name, when set, names the poller's source: prometheus/<Name>
	// instead of prometheus/<URL with its secrets hidden> (PollerSource).
	// It tells apart pollers whose URLs differ only in hidden parts.
	Name string
	// Queries maps a name to a PromQL expression. Each result series
	// becomes a series named after the query. Required.
	Queries map[string]string
	// Step is the evaluation interval of Run and the resolution of
	// Backfill. Default 15s.
	Step time.Duration
	// EntityLabels are the result labels kept (e.g. namespace, pod,
	// container). Empty keeps every label of the result.
	EntityLabels []string
	// Timeout bounds one query, retries excluded. Default 30s.
	Timeout time.Duration
	// MaxRetries is how often a retryable query or Append failure is
	// retried. Default 3. Once a query of a poll (Run's, Eval's) has used
	// its retries on an unreachable server, a 5xx (but Prometheus's query
	// timeout) or a 429, the poll's other queries are not sent: they fail
	// at once, and Run catches them up at their next successful poll. A
	// query that times out once sent (no answer within 1.5 x Timeout) may
	// be one slow query: the next is sent once, without retries, and when
	// it times out too, the poll's other queries are not sent either (the
	// server accepts connections and does not answer); when it is
	// answered, the poll goes on. A timeout before its request got a
	// connection (a host powered off, packets dropped, a full listen
	// backlog) counts as the server unreachable. In Run, no query is
	// retried once its poll's step has ended (the retry would delay the
	// next poll; the step is caught up). A poll that does not answer thus
	// lasts at most the step plus two attempts (2 x 1.5 x Timeout).
	MaxRetries int
	// RetryBackoff is the first retry delay; it doubles up to 30s.
	// Default 500ms. A 429 or 503 answer's Retry-After (seconds) is the
	// delay instead (at most 30s for Eval and Backfill). In Run, a
	// Retry-After beyond the end of the poll's step fails the query at
	// once, and the server's polls until the Retry-After has passed send
	// nothing: their queries fail (counted as errors) and are caught up as
	// any failed poll (CatchUp). A catch-up's range query (sent once)
	// answered with a Retry-After holds them back the same way, with the
	// poll's catch-ups not yet sent: those wait for it when it ends
	// within the poll's step, else give their missed steps up.
	RetryBackoff time.Duration
	// MaxPointsPerQuery bounds the points per series of one range query
	// (Prometheus refuses more than 11000). Default 10000.
	MaxPointsPerQuery int
	// RoundTripper is the HTTP transport. Default: a transport of the
	// poller's own, with api.DefaultRoundTripper's settings, its errors
	// worded as those of omen's client settings (httptransport.Explain:
	// a server certificate that does not verify is named). When Run
	// returns, it closes the transport's idle connections (when it has a
	// CloseIdleConnections method, as http.Transport and the transports
	// of omen's client settings do): a stopped poller keeps no
	// connection to Prometheus open.
	RoundTripper http.RoundTripper
	// CatchUp is the longest span of missed steps Run fetches again, per
	// query, with one range query at its next successful poll: the steps
	// since the newest one appended for it (its failed polls: Prometheus
	// unreachable, a timeout; a poll more than a step late; a retryable
	// Append failure), the newest CatchUp/Step of them (at most
	// MaxPointsPerQuery). A range query that fails or outlives a step
	// from the catch-up's start gives its steps up, as does one not sent
	// because the range queries before it took that step. Each query
	// counts as behind from the step before Run's first poll; a query
	// SetQueries adds or gives another expression, from the previous
	// poll's step (fetched again with the new expression, see
	// SetQueries). 0 fetches none: the steps missed stay
	// without polled values (a consumer serves the last ones within its
	// lookback delta).
	CatchUp time.Duration
}

func (o *PollerOptions) withDefaults() (PollerOptions, error) {
	r := *o
	if r.Step == 0 {
		r.Step = 15 * time.Second
	}
	if r.Timeout == 0 {
		r.Timeout = 30 * time.Second
	}
	if r.MaxRetries == 0 {
		r.MaxRetries = 3
	}
	if r.RetryBackoff == 0 {
		r.RetryBackoff = 500 * time.Millisecond
	}
	if r.MaxPointsPerQuery == 0 {
		r.MaxPointsPerQuery = 10000
	}
	if err := CheckPrometheusURL(r.URL); err != nil {
		return r, fmt.Errorf("poller options: %w", err)
	}
	switch {
	case r.Step < time.Millisecond:
		return r, fmt.Errorf("poller options: Step %s below 1ms", r.Step)
	case r.Timeout < 0 || r.RetryBackoff < 0 || r.MaxRetries < 0 || r.CatchUp < 0:
		return r, errors.New("poller options: negative Timeout, RetryBackoff, MaxRetries or CatchUp")
	case r.MaxPointsPerQuery < 1 || r.MaxPointsPerQuery > 11000:
		return r, fmt.Errorf("poller options: MaxPointsPerQuery %d outside 1..11000", r.MaxPointsPerQuery)
	}
	return r, nil
}

// CheckPrometheusURL returns an error when s is clearly not the base URL
// of a Prometheus server's HTTP API, which the poller appends
// /api/v1/query and /api/v1/query_range to: not http(s) or without a host,
// with a fragment, or with a path ending with the API's path (…/api/v1,
// or /api/v1/ and an endpoint of the API: …/api/v1/query, …/api/v1/labels).
// A path (Prometheus behind a reverse proxy, with --web.route-prefix, or
// a Kubernetes API server's proxy, …/api/v1/namespaces/…/proxy) and a
// query string (a proxy's tenant or token, sent with every query) are
// accepted; a wrong path shows as a 404 in the query errors. The error
// holds s with its secrets hidden (see promurl.Check); the base URL it
// suggests has no user information, and says so.
func CheckPrometheusURL(s string) error { return promurl.Check(s) }

// querySet is an immutable set of named queries.
type querySet struct {
	names []string // sorted
	exprs map[string]string
}

func newQuerySet(queries map[string]string) (*querySet, error) {
	if len(queries) == 0 {
		return nil, errors.New("no queries")
	}
	q := &querySet{exprs: make(map[string]string, len(queries))}
	for name, expr := range queries {
		if !model.UTF8Validation.IsValidMetricName(name) || strings.TrimSpace(expr) == "" {
			return nil, fmt.Errorf("query %q: invalid name or empty expression", name)
		}
		q.names = append(q.names, name)
		q.exprs[name] = expr
	}
	slices.Sort(q.names)
	return q, nil
}

// CheckQueries returns the error SetQueries (and NewPoller) would return
// for queries, without changing any poller: a configuration reload checks
// the new set with it before applying anything.
func CheckQueries(queries map[string]string) error {
	_, err := newQuerySet(queries)
	return err
}

// PollObserver is implemented by an Appender that wants to know which
// steps a Poller has polled, samples or not: a poll whose queries
// succeeded with no series (a failure label's query while nothing fails,
// entities gone) appends nothing, yet its step's polled values are
// current, not missing. The daemon's ingester counts the steps evaluated
// before their poll with it.
type PollObserver interface {
	// Polled is called with the time t a poll of source evaluated its
	// queries at (the newest step of a Backfill chunk), once at least one
	// of its queries succeeded and the results were appended (or there
	// were none), after the Append. Polls that all failed, or whose
	// Append failed, are not reported.
	Polled(source string, t time.Time)
}

// Poller turns PromQL query results from a Prometheus server into samples.
// Each sample is named after its query (__name__ = the query name) and
// carries the result's labels (only EntityLabels when set). A scalar
// result, instant or ranged (a series of no labels), carries only the
// name, as a vector series without labels (sum(x)) does: the query's
// expression tells them apart. Series that differ only in labels beyond
// EntityLabels (a pod's containers) carry the same labels; a query's
// samples of one time are in one batch, where features.Extractor.AddPolled
// keeps the largest, the rule of features.Feature.
//
// Batches carry Seq 0: a query that is retried, or a range backfilled
// twice, yields samples with the same series, timestamp and value again,
// which a store keyed by (series, timestamp) absorbs.
//
// A series that disappears from a query's result ends at once, as
// Prometheus ends a series a scrape no longer has: Run and Backfill append
// a stale marker (value.StaleNaN) for it at the first step whose result
// lacks it (see endSeries), so that a consumer's lookback (PromQL's 5m
// delta, the daemon's polled values) does not serve its last value on. A
// failure label's query (`x > 0`) answers "result":[] once the failure has
// ended: without the marker the label stayed set for 5 minutes, where
// remote-write, which carries Prometheus's own markers, ended it at once.
// A query that fails is no empty result: it ends none of its series (they
// are caught up, with their markers, at its next successful poll). Eval,
// without a previous result, writes none.
type Poller struct {
	opts PollerOptions
	api  v1.API
	// rt is the transport of api's requests (PollerOptions.RoundTripper
	// or the poller's own), whose idle connections Run closes at its end.
	rt  http.RoundTripper
	app Appender
	// observer is app when it is a PollObserver, else nil.
	observer PollObserver
	logger   *slog.Logger
	source   string
	// url is the Prometheus URL for messages, its secret hidden.
	url string
	// queries is the current query set, swapped whole by SetQueries.
	queries atomic.Pointer[querySet]
	// reloadMu serializes SetQueries and guards reloaded: the names of
	// the queries SetQueries added or gave another expression since Run's
	// poll last took them (takeQueries). queries is stored with reloadMu
	// held, so that a poll loads the set and takes the names of the
	// reloads that made it together.
	reloadMu sync.Mutex
	reloaded map[string]bool
	// appendMu is held for reading by an evaluation (Run's poll, Eval, a
	// Backfill chunk) from its check of the queries SetQueries replaced
	// (current, replaced) until its Append has returned, retries
	// included, and for writing by SetQueries while it swaps queries: a
	// SetQueries waits for an Append under way, so that none of an old
	// expression's results is appended once it has returned (the daemon
	// then drops the feature's polled values). Taken before reloadMu.
	appendMu sync.RWMutex
	// appendWait bounds SetQueries' wait for appendMu (appendWaitMax;
	// tests shorten it).
	appendWait time.Duration
	// appendWaiting is set while SetQueries waits for appendMu (tests
	// read it).
	appendWaiting atomic.Bool
	// inTake, when set (tests only), is called by takeQueries with
	// reloadMu held, between taking reloaded and loading queries.
	inTake func()
	// beforeAppend, when set (tests only), is called by Run's poll with
	// appendMu held for reading, between current and the Append.
	beforeAppend func()
	m            *ingestMetrics

	queryCount *prometheus.CounterVec
	warnings   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	caughtUp   prometheus.Counter
	lost       *prometheus.CounterVec
	// now is the wall clock Run schedules polls by (time.Now; a test's
	// that steps back).
	now func() time.Time
	// hold, when set, is a server's Retry-After that Run's poll did not
	// wait for (it outlasted the poll's step, or came with a query's last
	// attempt: a catch-up's range query has one): no query of Run's, live
	// or catch-up, is sent before its end.
	hold atomic.Pointer[retryHold]
	// backfilled is what the last successful Backfill fetched last (the
	// series of each query at its end), for RunAfter's first poll;
	// backfilledMu guards it.
	backfilledMu sync.Mutex
	backfilled   *backfilledSets
	// verified is set while the server's certificate is known to verify
	// for some of its connections: a query of the poller's got an answer
	// since its start or since the last poll a certificate error stopped
	// (see instant). A certificate error then may be one replica's behind
	// a load balancer (mid-rotation), which the next query, on another
	// connection, passes.
	verified atomic.Bool
}

// retryHold is a Retry-After that holds back the poller's instant queries
// until until, given by the answer whose error is err.
type retryHold struct {
	until time.Time
	err   error
}

// NewPoller returns a poller that hands results to app.
func NewPoller(app Appender, opts PollerOptions, reg prometheus.Registerer, logger *slog.Logger) (*Poller, error) {
	if app == nil {
		return nil, errors.New("poller: nil Appender")
	}
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	qs, err := newQuerySet(o.Queries)
	if err != nil {
		return nil, fmt.Errorf("poller options: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	redacted := redact.URL(o.URL)
	rt := o.RoundTripper
	if rt == nil {
		// Its own: closing the idle connections of the shared one at
		// Run's end would close other clients' too.
		rt = httptransport.Explain(httptransport.Prometheus(), "")
	}
	client, err := api.NewClient(api.Config{Address: o.URL, RoundTripper: retryAfterTransport{rt}})
	if err != nil {
		return nil, fmt.Errorf("poller: prometheus client for %q: %w", redacted, err)
	}
	m, err := newIngestMetrics(reg)
	if err != nil {
		return nil, fmt.Errorf("poller metrics: %w", err)
	}
	p := &Poller{
		opts: o, api: v1.NewAPI(client), rt: rt, app: app, m: m, now: time.Now,
		// The source is a log attribute and a metric label: no password.
		source: PollerSource(o.Name, o.URL),
		url:    redacted, appendWait: appendWaitMax,
	}
	p.logger = logger.With("source", p.source)
	p.observer, _ = app.(PollObserver)
	p.queries.Store(qs)
	p.opts.Queries = nil // the current set is p.queries
	if p.queryCount, err = counterVec(reg, prometheus.CounterOpts{
		Namespace: "omen", Name: "prometheus_queries_total",
		Help: "PromQL queries issued by the poller, by kind (instant, range) and outcome (ok, retry, error).",
	}, "kind", "outcome"); err != nil {
		return nil, fmt.Errorf("poller metrics: %w", err)
	}
	if p.warnings, err = counterVec(reg, prometheus.CounterOpts{
		Namespace: "omen", Name: "prometheus_query_warnings_total",
		Help: "Warnings returned with PromQL query results, by query name.",
	}, "query"); err != nil {
		return nil, fmt.Errorf("poller metrics: %w", err)
	}
	if p.duration, err = histogramVec(reg, prometheus.HistogramOpts{
		Namespace: "omen", Name: "prometheus_query_duration_seconds",
		Help:    "Duration of PromQL queries issued by the poller, retries included.",
		Buckets: prometheus.ExponentialBuckets(0.001, 4, 9),
	}, "kind"); err != nil {
		return nil, fmt.Errorf("poller metrics: %w", err)
	}
	caughtUp, err := counterVec(reg, prometheus.CounterOpts{
		Namespace: "omen", Name: "prometheus_caught_up_steps_total",
		Help: "Steps a poller missed (Prometheus unreachable, a query timeout, a late poll) and fetched again with range queries, by source; counted per query: a step two queries missed counts twice.",
	}, "source")
	if err != nil {
		return nil, fmt.Errorf("poller metrics: %w", err)
	}
	p.caughtUp = caughtUp.WithLabelValues(p.source)
	if p.lost, err = counterVec(reg, prometheus.CounterOpts{
		Namespace: "omen", Name: "prometheus_catch_up_lost_steps_total",
		Help: "Steps a poller missed and gave up, counted per query (a step two queries missed counts twice), by source and reason: error (the range query fetching them failed, outlived its step, had no time left in the poll to be sent or was held back by the server's Retry-After; never tried again, the query has a newer value stored), too_old (older than the catch-up span), refused (the store refused them for good: ErrInvalid).",
	}, "source", "reason"); err != nil {
		return nil, fmt.Errorf("poller metrics: %w", err)
	}
	return p, nil
}

// Source returns the Source name of the poller's batches, PollerSource of
// its name and URL.
func (p *Poller) Source() string { return p.source }

// PollerSource returns the Source name of the batches of a poller named
// name of the Prometheus base URL u: "prometheus/<name>" when name is set,
// else "prometheus/<u>", without a trailing "/", its secrets hidden
// (redact.URL: the password or lone user name, every value of the query).
// It is a log attribute, a metric label and the key of the evaluator's
// per-poller staleness: two unnamed pollers whose URLs differ only in
// their hidden parts (?namespace=team-a, ?namespace=team-b) have the same
// source, and their metrics and staleness would merge (the configuration
// refuses them, asking for names).
func PollerSource(name, u string) string {
	if name != "" {
		return "prometheus/" + name
	}
	return "prometheus/" + strings.TrimSuffix(redact.URL(u), "/")
}

// Step returns the poller's evaluation interval (PollerOptions.Step, its
// default applied).
func (p *Poller) Step() time.Duration { return p.opts.Step }

// FloorStep returns the newest multiple of step (counted from the Unix
// epoch, as the daemon's evaluation steps are) at or before t. Run polls
// at these times.
func FloorStep(t time.Time, step time.Duration) time.Time {
	n := t.UnixNano()
	r := n % int64(step)
	if r < 0 {
		r += int64(step)
	}
	return time.Unix(0, n-r)
}

// SetQueries replaces the poller's queries (name to PromQL expression, as
// PollerOptions.Queries) as a whole, for a configuration reload: the next
// evaluation (Eval, Run's next step, Backfill's next chunk) uses the new
// set; one already under way finishes with the set it started with, but
// appends none of the results of the queries the new set removed or gave
// another expression, and SetQueries waits for its Append when that has
// begun (with its retries, when the Appender fails; at most 5 s, after
// which it logs a warning that the Append may store the old values, and
// applies the set): the daemon drops a
// feature's polled values once SetQueries has returned, and the old
// expression's appended after it were served under the new definition;
// Run's next poll fetches the step with the new one, with CatchUp. An
// Appender that waits for SetQueries' caller delays it by that bound. With
// CatchUp, Run's next poll also fetches the previous poll's step of each
// query the new set adds or gives another expression (or that several
// sets since that poll changed and changed back: the daemon dropped its
// values at each), with the new one, in its Append (before its own
// step): the daemon evaluates a step when
// the next poll's values pass it, so the step the previous poll fetched,
// whose values the reload dropped (or, for a new query, never had), was
// evaluated without them; with a poll under way at the reload (until its
// Append has returned), the step before that poll's is fetched too
// (evaluated when that poll's other values were appended, if any, its
// values come late). An
// invalid set is rejected and the current one kept. Safe for concurrent
// use with Run, Eval and Backfill; queries is not retained.
func (p *Poller) SetQueries(queries map[string]string) error {
	qs, err := newQuerySet(queries)
	if err != nil {
		return fmt.Errorf("poller %s: set queries: %w", p.source, err)
	}
	if p.lockAppends() {
		defer p.appendMu.Unlock()
	} else {
		p.logger.Warn("a reload's new feature queries apply without waiting for the poller's Append under way, which took longer than "+
			p.appendWait.String()+": that Append may still store a replaced query's values for its step", "waited", p.appendWait)
	}
	p.reloadMu.Lock()
	defer p.reloadMu.Unlock()
	cur := p.queries.Load()
	for _, name := range qs.names {
		if expr, ok := cur.exprs[name]; !ok || expr != qs.exprs[name] {
			if p.reloaded == nil {
				p.reloaded = map[string]bool{}
			}
			p.reloaded[name] = true
		}
	}
	p.queries.Store(qs)
	return nil
}

// appendWaitMax bounds how long SetQueries waits for an Append under way
// (Poller.appendWait): longer than the Append's retries at the daemon's
// settings (3 retries, 500 ms back-off doubling: 3.5 s), and short enough
// that a reload, whose caller may hold locks the daemon's step needs,
// never hangs on a store that does not answer.
const appendWaitMax = 5 * time.Second

// lockAppends takes appendMu for writing, waiting at most p.appendWait for
// the evaluations holding it for reading (an Append under way); it reports
// whether it took it. It polls TryLock rather than blocking in Lock, so a
// SetQueries that gives up leaves no writer waiting, which would hold off
// every later evaluation's RLock.
func (p *Poller) lockAppends() bool {
	if p.appendMu.TryLock() {
		return true
	}
	p.appendWaiting.Store(true)
	defer p.appendWaiting.Store(false)
	deadline := time.NewTimer(p.appendWait)
	defer deadline.Stop()
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-deadline.C:
			return p.appendMu.TryLock()
		case <-tick.C:
			if p.appendMu.TryLock() {
				return true
			}
		}
	}
}

// peekReloaded returns a copy of the names takeQueries would return,
// which it leaves.
func (p *Poller) peekReloaded() map[string]bool {
	p.reloadMu.Lock()
	defer p.reloadMu.Unlock()
	return maps.Clone(p.reloaded)
}

// takeQueries returns the current query set and the names of the
// queries SetQueries added or gave another expression since its last
// call (a query changed and changed back counts: the daemon dropped its
// values at each reload), which it forgets. Both are taken under
// reloadMu, as SetQueries changes them: a set swapped in between the two
// was polled without its reload counted (its previous poll's step not
// fetched again).
func (p *Poller) takeQueries() (*querySet, map[string]bool) {
	p.reloadMu.Lock()
	defer p.reloadMu.Unlock()
	r := p.reloaded
	p.reloaded = nil
	if p.inTake != nil {
		p.inTake()
	}
	return p.queries.Load(), r
}

// Backfill evaluates every query over [start, end] at Step resolution with
// range queries (split so that no query exceeds MaxPointsPerQuery points per
// series) and appends the results, one Append per chunk holding every
// query's results (a batch each): the appender sees a chunk's time range
// with all of its features at once, so that a step is never evaluated on
// the queries appended first (the daemon's evaluator evaluates the newest
// step the data passed as soon as it passed it, and the samples of the
// queries appended after it counted late). It stops at the first error
// that survives the retries, having appended the chunks before it. Each
// chunk appended (or without samples) is reported to a PollObserver
// appender by its newest step. Each chunk's batch of a query holds, with
// its results in time order, a stale marker (value.StaleNaN) at each step
// a series lacks after a step that had it (its results end before the
// chunk's end, have a gap, or lack a series the previous chunk ended
// with); the series of each query at end are handed to a RunAfter given
// end as its last step, whose first poll ends those it lacks (see
// RunAfter). The first chunk knows no series before start. A query SetQueries removes or gives
// another expression while a chunk is under way has none of that chunk's
// results appended (see SetQueries).
func (p *Poller) Backfill(ctx context.Context, start, end time.Time) error {
	if end.Before(start) {
		return fmt.Errorf("backfill: end %s before start %s", end, start)
	}
	p.setBackfilled(time.Time{}, nil)
	chunk := p.opts.Step * time.Duration(p.opts.MaxPointsPerQuery-1)
	// By query: the series of its result at the previous chunk's newest
	// step, which the next chunk ends with stale markers where it lacks
	// them (endSeries); handed to RunAfter at the end.
	sets := map[string]seriesSet{}
	var newest time.Time
	for from := start; !from.After(end); from = from.Add(chunk + p.opts.Step) {
		to := from.Add(chunk)
		if to.After(end) {
			to = end
		}
		// The newest step the range queries evaluate.
		newest = from.Add(to.Sub(from) / p.opts.Step * p.opts.Step)
		qs := p.queries.Load()
		var bs []telemetry.Batch
		// A query SetQueries removed has no set any more.
		chunkSets := map[string]seriesSet{}
		for _, name := range qs.names {
			ss, err := p.queryRange(ctx, qs, name, from, to, p.opts.MaxRetries, time.Time{})
			if err != nil {
				return fmt.Errorf("backfill query %q over [%s, %s]: %w", name, from.Format(time.RFC3339), to.Format(time.RFC3339), err)
			}
			ss, chunkSets[name] = endSeries(sets[name], ss, from, newest, p.opts.Step)
			if len(ss) > 0 {
				bs = append(bs, telemetry.Batch{Source: p.source, Samples: ss})
			}
		}
		// A query SetQueries replaced meanwhile: its chunk dropped (see
		// current), and a SetQueries from here waits for the Append.
		p.appendMu.RLock()
		for _, name := range qs.names {
			if p.replaced(qs, name) {
				// The daemon dropped its values: none of its series
				// to end.
				delete(chunkSets, name)
			}
		}
		bs = slices.DeleteFunc(bs, func(b telemetry.Batch) bool {
			name := b.Samples[0].Labels.Get(model.MetricNameLabel)
			if !p.replaced(qs, name) {
				return false
			}
			p.logger.Info("query replaced by a reload while backfilled: its results dropped", "query", name, "from", from, "to", to)
			return true
		})
		if len(bs) > 0 {
			now := time.Now().UnixMilli()
			for i := range bs {
				bs[i].Received = now
			}
			if err := p.appendRetry(ctx, bs); err != nil {
				p.appendMu.RUnlock()
				return fmt.Errorf("backfill over [%s, %s]: %w", from.Format(time.RFC3339), to.Format(time.RFC3339), err)
			}
		}
		p.appendMu.RUnlock()
		sets = chunkSets
		p.polled(newest)
	}
	p.setBackfilled(newest, sets)
	return nil
}

// polled tells the observer, if any, of a successful poll at t.
func (p *Poller) polled(t time.Time) {
	if p.observer != nil {
		p.observer.Polled(p.source, t)
	}
}

// queryRange evaluates the query name of qs over [from, to] at Step
// resolution, retrying up to retries times, and returns its samples.
// until is retry's: the end of Run's poll step for a catch-up (a
// Retry-After then holds the server's queries), zero for Backfill.
func (p *Poller) queryRange(ctx context.Context, qs *querySet, name string, from, to time.Time, retries int, until time.Time) ([]telemetry.Sample, error) {
	var val model.Value
	err := p.retry(ctx, "range", retries, until, func(ctx context.Context) (v1.Warnings, error) {
		var w v1.Warnings
		var err error
		val, w, _, err = p.api.QueryRange(ctx, qs.exprs[name],
			v1.Range{Start: from, End: to, Step: p.opts.Step}, v1.WithTimeout(p.opts.Timeout))
		return w, err
	}, name)
	if err != nil {
		return nil, err
	}
	return p.convert(nil, name, val), nil
}

// Run evaluates every query with an instant query at each multiple of
// Step until ctx is done, appending the results. A failed evaluation is
// logged and counted and the next one proceeds. It returns nil when ctx is
// cancelled, having closed the idle connections of the poller's
// transport. It is RunAfter with no step evaluated yet.
func (p *Poller) Run(ctx context.Context) error {
	return p.RunAfter(ctx, time.Time{})
}

// RunAfter is Run, given last, the newest step whose values were already
// fetched (the end of a start-up Backfill; zero: none). Each query keeps
// the newest step whose value it stored or gave up (last at the start;
// with none, the step before its first poll; for a query SetQueries adds
// or gives another expression, at most the step before the previous
// poll: see SetQueries), so that the
// steps it missed (its live poll failed: Prometheus unreachable, a
// timeout; a poll more than a step late; its Append failed with a
// retryable error) are always the steps between that one and the poll.
// With PollerOptions.CatchUp, each query whose live poll succeeded and
// that missed steps fetches the newest CatchUp/Step of them with one
// range query, without retries, all bounded by a step from the
// catch-up's start (a slow one delays the next poll by at most a step;
// the poll's results wait for it); a query whose range query there was
// no time left to send gives its missed steps up and appends its live
// value.
// A poll's results are appended in one Append: each catch-up followed by
// the query's live value (its series stay in time order), then the live
// values of the queries that missed nothing, so that a consumer
// evaluating a step as soon as the data passed it never sees the poll's
// step before the missed ones. A failed
// or timed out range query gives its steps up
// (omen_prometheus_catch_up_lost_steps_total{reason="error"}): they are
// never fetched again, as the query has a newer value stored by then. An
// Append refused for good (ErrInvalid) is made again a query at a time,
// and the steps of the queries refused are given up (reason "refused"):
// one query's bad data holds back no other's, nor its own next polls. A
// query whose live poll failed appends nothing and is caught up at its
// next successful one: a query that keeps failing costs no range queries
// and holds back neither the live polls of the others nor its own. Polls
// are at the previous one plus a step; at the newest step when more than
// a step late; at the next step when the wall clock stepped back (more
// than a step), where a query's values at or before its stored step are
// not appended (the store holds newer ones) until the clock passes it.
// A PollObserver appender is told of each poll at which a query's values
// (none, maybe) were appended.
//
// Each query's series at its stored step (those its last result stored
// had) are kept, and a poll appends a stale marker (value.StaleNaN) for
// each that its results lack, at the first step they lack it: the poll's
// step (a live poll), or a step of the catch-up's range (the series ends
// within it, has a gap, or is absent from it). A live poll that failed
// marks nothing (a failure is no empty result); its query's series stay
// as they were until a poll of it succeeds, which catches up the steps
// between with their markers. An Append that failed keeps them too (its
// steps are fetched again); one refused for good (ErrInvalid) keeps those
// stored before it. A query SetQueries removes or gives another
// expression forgets them: the daemon drops its polled values. At the
// start, the series are those of the Backfill that ended at last (every
// query's, at its end; see Backfill); without one (last zero, or a
// Backfill that failed or ended elsewhere) the first poll knows none, and
// ends no series it lacks: a process started afresh holds no polled
// values of the previous one but those its ingest log replays, which the
// daemon's start-up Backfill fetches again (its window, the lookback,
// covers PromQL's 5m lookback delta).
func (p *Poller) RunAfter(ctx context.Context, last time.Time) error {
	defer p.closeIdleConnections()
	step := p.opts.Step
	// By query: the newest step stored or given up; never moves back but
	// for a query SetQueries gives another expression.
	stored := map[string]time.Time{}
	var failing errclass.Tracker[string] // by query: whose live polls fail
	settings := newSettingsLog()         // omen's client settings that do not read
	certs := newCertificateLog()         // a server certificate that does not verify
	if !last.IsZero() {
		for _, name := range p.queries.Load().names {
			stored[name] = last
		}
	}
	// By query: the series of its result at its stored step, which the
	// next poll ends with stale markers where it lacks them (see
	// endSeries). At the start, those of the Backfill that ended at last,
	// else none: see RunAfter.
	present := p.takeBackfilled(last)
	var next time.Time
	var reloadedDuring map[string]bool // the queries SetQueries changed while the previous poll was under way (until its Append returned)
	for {
		prev := next // the previous poll's step (zero: none)
		now := p.now()
		floor := FloorStep(now, step)
		if next.IsZero() {
			next = floor.Add(step)
		} else if next = next.Add(step); next.Before(floor) {
			next = floor // more than a step late: skip to the newest step
		} else if next.After(floor.Add(2 * step)) {
			next = floor.Add(step) // the wall clock stepped back: not a sleep as long as the jump
		}
		t := time.NewTimer(next.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		qs, reloaded := p.takeQueries()
		for name := range stored {
			if _, ok := qs.exprs[name]; !ok {
				delete(stored, name) // removed by SetQueries
			}
		}
		for name := range present {
			if _, ok := qs.exprs[name]; !ok || reloaded[name] {
				// Removed by SetQueries, or given another expression:
				// the daemon dropped its polled values, none to end.
				delete(present, name)
			}
		}
		for _, name := range qs.names {
			st, ok := stored[name]
			if !ok {
				// Run's first poll (or added by SetQueries, see below):
				// the steps it misses from this poll on are behind.
				st = next.Add(-step)
			}
			if reloaded[name] && !prev.IsZero() {
				// Added or given another expression by SetQueries
				// since the previous poll: the daemon dropped the old
				// expression's values, or had none, and the previous
				// poll's step is evaluated when this poll's values pass
				// it. Behind from it (from the step before it when the
				// reload came while the previous poll's queries were
				// under way): caught up with the new expression, in this
				// poll's Append, before the evaluator reaches it.
				b := prev.Add(-step)
				if reloadedDuring[name] {
					b = b.Add(-step)
				}
				if b.Before(st) {
					st = b
				}
			}
			stored[name] = st
		}
		p.forgetRemoved(&failing, qs, next)
		// Each query's failure logged as it fails, not at the poll's end,
		// but a failure to read omen's own client settings and a server
		// certificate that does not verify: the poll's (every query fails
		// with it), logged once for the poll, throttled.
		settings.poll()
		certs.poll()
		live, _ := p.instant(ctx, qs, next, next.Add(step), func(name string, err error) {
			if ctx.Err() != nil {
				return
			}
			if settings.note(err) || certs.note(err) {
				return
			}
			p.logOutcome(&failing, qs, next, name, err)
		})
		if ctx.Err() == nil {
			settings.log(p.logger, p.now())
			certs.log(p.logger, p.now())
		}
		if err := p.storePoll(ctx, qs, next, stored, present, live); err != nil && ctx.Err() == nil {
			p.logger.Warn("store the poll's samples", "time", next, "err", err)
		}
		// A reload while the poll was under way, until its Append
		// returned (its results not appended, see current; the catch-up's
		// range queries may take up to a step before current checks): the
		// step before the poll's, whose values the daemon dropped, is not
		// evaluated yet either. A reload that came during the Append
		// (which it waited for) or after it, and before this, fetches that
		// step again too, late.
		reloadedDuring = p.peekReloaded()
	}
}

// closeIdleConnections closes the idle connections of the poller's
// transport, when it can: a stopped poller's keep-alive connections (and
// the client's goroutines reading them) stayed open until the transport's
// idle timeout, 90 s to 5 minutes.
func (p *Poller) closeIdleConnections() {
	if c, ok := p.rt.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// errorClass returns what a query error is, without what changes from one
// attempt to the next while the cause stays the same: the client's
// ephemeral port (read tcp 127.0.0.1:39472->127.0.0.1:9090: read:
// connection reset by peer) or a GET's query string (time=...). An
// error of Prometheus's API is its type and message; a timeout (the
// client's deadline, a net timeout) is "timeout"; a network error is
// its operation and the system call's error (errno) or, without one, its
// innermost error's text; an HTTP client error without a network error
// is its method and the error it wraps, without the URL. Any other error
// is its text. Two errors of one class are logged as the same failure.
func errorClass(err error) string {
	var ae *v1.Error
	if errors.As(err, &ae) {
		return "api " + string(ae.Type) + ": " + errclass.Of(ae.Msg)
	}
	if isTimeout(err) {
		return "timeout"
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		var errno syscall.Errno
		if errors.As(oe.Err, &errno) {
			return "net " + oe.Op + ": " + errno.Error()
		}
		if oe.Err != nil {
			return "net " + oe.Op + ": " + oe.Err.Error()
		}
		return "net " + oe.Op
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		if ue.Err != nil {
			return "http " + ue.Op + ": " + ue.Err.Error()
		}
		return "http " + ue.Op
	}
	return err.Error()
}

// forgetRemoved closes the failures of the queries no longer in qs
// (SetQueries removed them) with an info record.
func (p *Poller) forgetRemoved(failing *errclass.Tracker[string], qs *querySet, next time.Time) {
	failing.Forget(func(name string) bool {
		_, ok := qs.exprs[name]
		return ok
	}, func(name string, f errclass.Failure) {
		// Removed by SetQueries: the failure's closing record.
		p.logger.Info("query no longer polled", "query", name, "time", next, "failing_since", f.Since, "failed_polls", f.Count)
	})
}

// logOutcome logs the live poll at next of the query name of qs, failed
// with err (nil: it succeeded), without flooding the log with a query
// Prometheus keeps refusing (a PromQL error) or a server that stays
// unreachable: a warning when a query starts failing, or fails with
// another error (another errorClass: a transport error's text changes at
// every attempt, with the client's port) or another expression (after
// SetQueries), then debug records while its error's class stays the same
// (each record holds the error's full text), and an info record when it
// succeeds again (or, see forgetRemoved, is no longer polled). failing
// holds each failing query's state, by name, its class the query's
// expression and errorClass; the failures are counted by
// omen_prometheus_queries_total{outcome="error"}. A failure to read
// omen's own client settings and a server certificate that does not
// verify are not logged here but by Run's configErrorLogs, once for the
// poll.
func (p *Poller) logOutcome(failing *errclass.Tracker[string], qs *querySet, next time.Time, name string, err error) {
	if err == nil {
		if f, ended := failing.Succeed(name); ended {
			p.logger.Info("query succeeds again", "query", name, "time", next, "failing_since", f.Since, "failed_polls", f.Count)
		}
		return
	}
	// The expression quoted: no expression and class read as another.
	if f, started := failing.Fail(name, strconv.Quote(qs.exprs[name])+" "+errorClass(err), next); started {
		p.logger.Warn("query failed; while it fails with this error, logged at debug level", "query", name, "time", next, "err", err)
	} else {
		p.logger.Debug("query still failing", "query", name, "time", next, "failing_since", f.Since, "failed_polls", f.Count, "err", err)
	}
}

// configErrorLog logs a run of polls whose queries failed at once, not
// retried, with an error of configuration that fails each of them alike
// (is): omen's own client settings that do not read (newSettingsLog), or
// a server certificate that does not verify (newCertificateLog): a WARN
// when the run starts, then at most once a minute while it goes on,
// debug records in between, and an INFO when a query gets past it. Per
// query, as other failures are (logOutcome), it made a WARN per query at
// its start and debug records only for as long as it went on, so that a
// poller left without its password said so once. Run's goroutine alone
// uses it.
type configErrorLog struct {
	// is reports an error of the log's kind; past, an outcome that got
	// past it (nil: any other).
	is, past func(error) bool
	// The records' messages: the run's start, its reminders, the debug
	// records in between, its end.
	first, again, debug, ended string

	runs errclass.Throttle[struct{}]
	// Of the poll under way: the first error of the kind, how many
	// queries failed with it, and whether any query got past it.
	err     error
	failed  int
	through bool
}

// newSettingsLog returns the log of omen's own client settings that do
// not read (clientsettings.Error: a basic_auth.password_file moved away):
// the queries fail unsent; any other outcome got past the settings.
func newSettingsLog() *configErrorLog {
	return &configErrorLog{is: clientsettings.Is,
		first: "queries not sent: omen's client settings do not read (while they do not, logged again once a minute)",
		again: "queries not sent: omen's client settings still do not read",
		debug: "queries not sent: omen's client settings do not read",
		ended: "omen's client settings read again: queries sent"}
}

// newCertificateLog returns the log of a server certificate that does
// not verify (httptransport.IsCertificate: a private CA omen was not
// given, another host's name, an expired certificate): omen's or the
// server's configuration, not a transient failure. A query answered (or
// refused by the server, which it reached) got past it; a transport
// error other than the certificate (a refused connection) tells nothing
// of the certificate.
func newCertificateLog() *configErrorLog {
	return &configErrorLog{is: httptransport.IsCertificate, past: answered,
		first: "queries failed: the server's certificate does not verify (while it does not, logged again once a minute)",
		again: "queries failed: the server's certificate still does not verify",
		debug: "queries failed: the server's certificate does not verify",
		ended: "the server's certificate verifies again: queries answered"}
}

// answered reports whether a query's outcome err came with an answer of
// the server: nil, or an error of Prometheus's API.
func answered(err error) bool { return err == nil || errors.As(err, new(*v1.Error)) }

// poll starts a poll.
func (l *configErrorLog) poll() { l.err, l.failed, l.through = nil, 0, false }

// note records a query's outcome; it reports true for an error of the
// log's kind, which the poll's log record covers.
func (l *configErrorLog) note(err error) bool {
	if !l.is(err) {
		if l.past == nil || l.past(err) {
			l.through = true
		}
		return false
	}
	if l.err == nil {
		l.err = err
	}
	l.failed++
	return true
}

// log writes the poll's record, if any, at now.
func (l *configErrorLog) log(logger *slog.Logger, now time.Time) {
	switch {
	case l.err != nil:
		f, first, again := l.runs.Fail(struct{}{}, now)
		switch {
		case first:
			logger.Warn(l.first, "queries", l.failed, "err", l.err)
		case again:
			logger.Warn(l.again, "queries", l.failed,
				"failing_since", f.Since.UTC().Format(time.RFC3339), "failing_for", now.Sub(f.Since).Round(time.Second),
				"failed_polls", f.Count, "err", l.err)
		default:
			logger.Debug(l.debug, "queries", l.failed, "failed_polls", f.Count, "err", l.err)
		}
	case l.through:
		if f, ended := l.runs.Succeed(struct{}{}); ended {
			logger.Info(l.ended, "failing_since", f.Since.UTC().Format(time.RFC3339),
				"failed_for", now.Sub(f.Since).Round(time.Second), "failed_polls", f.Count)
		}
	}
}

// pollPart is one query's share of a poll's Append.
type pollPart struct {
	name    string
	b       telemetry.Batch
	first   time.Time // the oldest step of b (next when it holds only the live samples)
	fetched bool      // b holds missed steps
	// The oldest step given up as too old, and by a failed range query
	// (zero: none).
	tooOld, failed time.Time
	// set is the series of the query's result at next, its present set
	// once b is stored.
	set seriesSet
}

// storePoll appends the live samples at next of the queries of qs in live
// (their live polls succeeded), each behind query's preceded by the steps it
// missed (after its stored step, within CatchUp and MaxPointsPerQuery;
// one range query each, without retries, all bounded by a step from the
// catch-up's start), in one Append: the behind queries' first. It sets to next the
// stored step of each query whose samples were stored or refused for good
// (given up: a range query failed, timed out or not sent for lack of
// time); after a retryable Append failure they stay missed, fetched at
// the next poll. A query whose stored
// step is at or after next (the wall clock stepped back) is skipped. The
// steps given up and fetched are counted per query. When a query's part
// (maybe without samples) was appended, next is reported to a
// PollObserver appender.
func (p *Poller) storePoll(ctx context.Context, qs *querySet, next time.Time, stored map[string]time.Time, present map[string]seriesSet, live map[string][]telemetry.Sample) error {
	step := p.opts.Step
	to := next.Add(-step)
	// [next - CatchUp, next - step] on the grid: the newest CatchUp/step
	// steps, as a start-up Backfill of CatchUp spans.
	oldest := FloorStep(next.Add(-p.opts.CatchUp).Add(step-1), step)
	if mx := to.Add(-step * time.Duration(p.opts.MaxPointsPerQuery-1)); oldest.Before(mx) {
		oldest = mx
	}
	// A step from the catch-up's start, not from next: the instant
	// queries may have outlasted a step already.
	rctx, cancel := context.WithDeadline(ctx, time.Now().Add(step))
	defer cancel()
	var behind, upToDate []pollPart
	for _, name := range qs.names {
		if _, ok := live[name]; !ok {
			continue // its live poll failed: caught up at its next successful one
		}
		if !stored[name].Before(next) {
			continue // the wall clock stepped back: stored already; wait until it passes
		}
		pt := pollPart{name: name, first: next, b: telemetry.Batch{Source: p.source}}
		from := FloorStep(stored[name], step).Add(step)
		if p.opts.CatchUp == 0 || !from.Before(next) {
			pt.b.Samples = live[name]
			upToDate = append(upToDate, pt)
			continue
		}
		if from.Before(oldest) {
			pt.tooOld, from = from, oldest
		}
		if !from.After(to) {
			if ctx.Err() != nil {
				return nil
			}
			if h := p.held(); h != nil {
				// A hold that ends before this poll's time for its
				// range queries does is waited for: a short
				// Retry-After gave up every later catch-up of the poll.
				if d := h.until.Sub(p.now()); holdEndsBefore(rctx, d) {
					sleep(rctx, d)
				}
			}
			h := p.held()
			switch {
			case h != nil:
				// A Retry-After (a catch-up's before it, or the live
				// poll's last query's) holds the server's queries: not
				// sent, counted as a failed query as a held live poll's
				// are.
				p.queryCount.WithLabelValues("range", "error").Inc()
				p.m.errors.WithLabelValues(ReasonQuery).Inc()
				p.logger.Warn("fetch the missed steps: not sent, held back by the server's Retry-After; given up", "query", name, "from", from, "to", to, "held_until", h.until, "err", h.err)
			case rctx.Err() != nil:
				// No time left to send it (the range queries before it
				// took the step). Left behind, it would be skipped again
				// at every poll that is late, with nothing appended, for
				// as long as the polls stay late.
				p.logger.Warn("no time left to fetch the missed steps; given up", "query", name, "from", from, "to", to)
			}
			if h != nil || rctx.Err() != nil {
				// Its missed steps given up as a failed range query's,
				// its live value appended.
				pt.failed = from
				pt.b.Samples = append(pt.b.Samples, live[name]...)
				behind = append(behind, pt)
				continue
			}
			ss, err := p.queryRange(rctx, qs, name, from, to, 0, next.Add(step))
			switch {
			case ctx.Err() != nil:
				return nil
			case err != nil:
				p.logger.Warn("fetch the missed steps; given up", "query", name, "from", from, "to", to, "err", err)
				pt.failed = from
			default:
				pt.b.Samples, pt.first, pt.fetched = ss, from, true
			}
		}
		pt.b.Samples = append(pt.b.Samples, live[name]...)
		behind = append(behind, pt)
	}
	parts := append(behind, upToDate...)
	for i := range parts {
		// The series the query's result lacks, from its first step
		// appended here (the catch-up's, or next), end there.
		pt := &parts[i]
		first := next
		if pt.fetched {
			first = pt.first
		}
		pt.b.Samples, pt.set = endSeries(present[pt.name], pt.b.Samples, first, next, step)
	}
	// A SetQueries from current on waits for the Append (see appendMu).
	p.appendMu.RLock()
	parts = p.current(qs, next, parts)
	if p.beforeAppend != nil {
		p.beforeAppend()
	}
	errOf, err := p.appendParts(ctx, parts)
	p.appendMu.RUnlock()

	// The steps are counted per query: a step two queries missed, twice.
	// A query's steps end at next (at to, those fetched or failed; too
	// old ones before oldest).
	steps := func(from, to time.Time) float64 {
		if from.IsZero() || from.After(to) {
			return 0
		}
		return float64(to.Sub(from)/step + 1)
	}
	var tooOld, failed, fetched, refused float64
	var caught []string
	appended := false
	for i, pt := range parts {
		if errOf[i] != nil && !errors.Is(errOf[i], ErrInvalid) {
			continue // missed: fetched again at the next poll
		}
		appended = appended || errOf[i] == nil
		if next.After(stored[pt.name]) {
			stored[pt.name] = next
		}
		if errOf[i] == nil {
			// Refused (ErrInvalid), the series stored before stay the
			// newest: the next poll ends those it lacks.
			present[pt.name] = pt.set
		}
		tooOld += steps(pt.tooOld, oldest.Add(-step))
		failed += steps(pt.failed, to)
		switch {
		case errOf[i] != nil:
			refused += steps(pt.first, next)
		case pt.fetched:
			fetched += steps(pt.first, to)
			caught = append(caught, pt.name)
		}
	}
	if tooOld > 0 {
		p.lost.WithLabelValues(p.source, lostTooOld).Add(tooOld)
	}
	if failed > 0 {
		p.lost.WithLabelValues(p.source, lostError).Add(failed)
	}
	if refused > 0 {
		p.lost.WithLabelValues(p.source, lostRefused).Add(refused)
	}
	if fetched > 0 {
		p.caughtUp.Add(fetched)
		p.logger.Info("fetched the missed steps", "queries", caught, "steps", fetched)
	}
	if appended {
		p.polled(next)
	}
	return err
}

// replaced reports whether the query name of qs is no longer polled as
// qs has it: SetQueries removed it or changed its expression since qs was
// loaded.
func (p *Poller) replaced(qs *querySet, name string) bool {
	cur := p.queries.Load()
	if cur == qs {
		return false
	}
	expr, ok := cur.exprs[name]
	return !ok || expr != qs.exprs[name]
}

// current returns parts without those of the queries of qs that
// SetQueries replaced (removed, or gave another expression) while the
// poll at next was under way: a reload drops a feature's polled values
// once SetQueries has returned, and the old expression's results appended
// after it were served under the new definition. Called with appendMu
// held for reading until the Append has returned: a SetQueries after the
// check waits for the Append. Their stored step stays:
// the steps are fetched with the new expression by the next poll's
// catch-up (CatchUp).
func (p *Poller) current(qs *querySet, next time.Time, parts []pollPart) []pollPart {
	return slices.DeleteFunc(parts, func(pt pollPart) bool {
		if !p.replaced(qs, pt.name) {
			return false
		}
		p.logger.Info("query replaced by a reload while polled: its results dropped", "query", pt.name, "time", next)
		return true
	})
}

// appendParts appends the batches of parts that hold samples in one
// Append, and returns each part's error and the errors joined. When the
// Append is refused for good (ErrInvalid), each part is appended again
// alone, so that the data of one query refused holds back no other's.
func (p *Poller) appendParts(ctx context.Context, parts []pollPart) ([]error, error) {
	errOf := make([]error, len(parts))
	var bs []telemetry.Batch
	var idx []int // bs[k] is parts[idx[k]].b
	now := time.Now().UnixMilli()
	for i := range parts {
		if len(parts[i].b.Samples) > 0 {
			parts[i].b.Received = now
			bs = append(bs, parts[i].b)
			idx = append(idx, i)
		}
	}
	if len(bs) == 0 {
		return errOf, nil
	}
	err := p.appendRetry(ctx, bs)
	if err == nil {
		return errOf, nil
	}
	if !errors.Is(err, ErrInvalid) || len(bs) == 1 {
		for _, i := range idx {
			errOf[i] = err
		}
		names := make([]string, len(idx))
		for k, i := range idx {
			names[k] = parts[i].name
		}
		return errOf, fmt.Errorf("store the samples of %v: %w", names, err)
	}
	var errs []error
	for k, i := range idx {
		if errOf[i] = p.appendRetry(ctx, bs[k:k+1]); errOf[i] != nil {
			errs = append(errs, fmt.Errorf("store the samples of %q: %w", parts[i].name, errOf[i]))
		}
	}
	return errOf, errors.Join(errs...)
}

// Reasons of omen_prometheus_catch_up_lost_steps_total.
const (
	lostError   = "error"   // the range query failed, timed out, had no time left or was held back
	lostTooOld  = "too_old" // older than CatchUp or MaxPointsPerQuery steps
	lostRefused = "refused" // the Append holding them failed for good (ErrInvalid)
)

// Eval evaluates every query at ts with instant queries and appends the
// results in one Append. It writes no stale markers: it has no previous
// result to compare with (see RunAfter). Queries that fail after retries are skipped (and
// reported in the returned error); the others are still stored. A
// PollObserver appender is told of ts when a query succeeded and the
// Append did.
func (p *Poller) Eval(ctx context.Context, ts time.Time) error {
	qs := p.queries.Load()
	samples, failed := p.instant(ctx, qs, ts, time.Time{}, nil)
	b := telemetry.Batch{Source: p.source}
	var errs []error
	ok := 0 // the queries that succeeded and are still polled as evaluated
	// A SetQueries from the check on waits for the Append (see appendMu).
	p.appendMu.RLock()
	for _, name := range qs.names {
		if err, bad := failed[name]; bad {
			errs = append(errs, fmt.Errorf("query %q at %s: %w", name, ts.Format(time.RFC3339), err))
			continue
		}
		if p.replaced(qs, name) {
			p.logger.Info("query replaced by a reload while polled: its results dropped", "query", name, "time", ts)
			continue
		}
		ok++
		b.Samples = append(b.Samples, samples[name]...)
	}
	err := p.store(ctx, b)
	p.appendMu.RUnlock()
	if err != nil {
		errs = append(errs, err)
	} else if ok > 0 {
		p.polled(ts)
	}
	return errors.Join(errs...)
}

// instant evaluates every query of qs at ts with instant queries and
// returns their samples by name (an entry, maybe empty, for each query
// that succeeded), and the errors of the queries that failed after
// retries, by name (without the query's name and ts: an error that stays
// the same from poll to poll reads the same). report, when set, is called
// with each query's outcome (nil: it succeeded) as soon as it is known,
// in qs's order. Once a query has failed after its retries on an error
// that says the server is down or limiting the poller (see
// serverFailing), the queries after it are not sent: they fail at once
// with that error, counted as errors, and are caught up at their next
// successful poll as any failed query is (N queries retried each against
// a server that is down took N times the retries' back-off per poll, and
// a rate limit got N times the traffic). A query that timed out once sent
// (see sentTimeout) may be one slow query: the next one is sent once,
// without retries; when it times out too, the server is not answering and
// the queries after it are not sent either (a server that accepts
// connections and never answers took N times the retries' 1.5 x Timeout
// per poll: an hour at the defaults); when it gets an answer, the poll
// goes on. A Retry-After beyond until (the end of Run's poll step; zero:
// none) fails the query at once and holds back the queries until it has
// passed (see retry): while held, no query is sent, each fails at once as
// above. Past until, no query is retried (see retry). A server certificate that does
// not verify (httptransport.IsCertificate) is not retried, and the
// queries after it fail at once with it, unsent, not counted as the
// server failing (each would make its own failing handshake: 40 a poll
// of 40 queries), but for one probe when the certificate has verified
// before (verified: a query answered since the poller's start or since
// the last poll a certificate error stopped): the next query is sent on
// another connection (an idle one, or a new dial), which passes behind a
// load balancer where one replica's certificate is bad (mid-rotation),
// and the poll goes on; when the probe's certificate does not verify
// either, the queries after it fail unsent. A certificate bad on every
// replica thus costs one handshake a poll, two at the first poll after
// it went bad.
func (p *Poller) instant(ctx context.Context, qs *querySet, ts, until time.Time, report func(name string, err error)) (map[string][]telemetry.Sample, map[string]error) {
	failed := map[string]error{}
	samples := make(map[string][]telemetry.Sample, len(qs.names))
	var down error // the error that stops the poll's remaining queries
	if h := p.held(); h != nil {
		down = fmt.Errorf("not sent, held back until %s by the server's Retry-After: %w", h.until.Format(time.RFC3339), h.err)
	}
	timedOut := ""   // the query sent last, when it timed out once sent
	certFailed := "" // the query sent last, when its certificate did not verify and the next query is a probe
	for _, name := range qs.names {
		if down != nil {
			p.queryCount.WithLabelValues("instant", "error").Inc()
			p.m.errors.WithLabelValues(ReasonQuery).Inc()
			failed[name] = down
			if report != nil {
				report(name, down)
			}
			continue
		}
		retries := p.opts.MaxRetries
		if timedOut != "" {
			retries = 0 // a probe: is the server answering?
		}
		var val model.Value
		err := p.retry(ctx, "instant", retries, until, func(ctx context.Context) (v1.Warnings, error) {
			var w v1.Warnings
			var err error
			val, w, _, err = p.api.Query(ctx, qs.exprs[name], ts, v1.WithTimeout(p.opts.Timeout))
			return w, err
		}, name)
		cert := err != nil && httptransport.IsCertificate(err)
		if !cert {
			certFailed = "" // the probe's handshake passed, or there was none to probe
		}
		if answered(err) {
			p.verified.Store(true)
		}
		if err != nil {
			failed[name] = err
			switch {
			case ctx.Err() != nil:
			case cert && certFailed == "" && p.verified.Load():
				// It verified before: maybe one replica's certificate
				// behind a load balancer. The next query is the probe.
				certFailed = name
			case cert:
				// The other queries' handshakes would fail alike, one
				// each (and each in the server's log).
				p.verified.Store(false)
				if certFailed != "" {
					down = fmt.Errorf("not sent, the server's certificate does not verify (queries %q and %q, on two connections): %w", certFailed, name, err)
				} else {
					down = fmt.Errorf("not sent, the server's certificate does not verify (query %q): %w", name, err)
				}
			case serverFailing(err):
				down = fmt.Errorf("not sent, the server failing (query %q failed after its retries): %w", name, err)
			case !sentTimeout(err):
				timedOut = ""
			case timedOut != "":
				down = fmt.Errorf("not sent, the server not answering (queries %q and %q timed out once sent): %w", timedOut, name, err)
			default:
				timedOut = name
			}
		} else {
			timedOut = ""
			samples[name] = p.convert(nil, name, val)
		}
		if report != nil {
			report(name, err)
		}
	}
	return samples, failed
}

// sentTimeout reports whether err, a query's error, is a timeout once its
// request was sent on a connection (the client's deadline, 1.5 x Timeout,
// or a network timeout): no answer, which a slow query on a healthy
// server and a server that does not answer both give.
func sentTimeout(err error) bool {
	return isTimeout(err) && !errors.As(err, new(notConnectedError))
}

// serverFailing reports whether err, a query's error after its retries,
// says that the server is down or limiting the poller rather than that
// the query fails: a transport error (connection refused or reset, DNS,
// TLS), a timeout before the request got a connection (notConnectedError:
// a host powered off, packets dropped, a full listen backlog), a 5xx
// other than Prometheus's own query timeout or cancellation, a 429. A
// timeout (the client's deadline, 1.5 x Timeout, or a network timeout)
// once the request was sent on a connection is not: a slow query outlives
// it on a healthy server (Prometheus answers its own query timeout late),
// and it would stop the poll's other queries at every poll. Nor is a
// failure to read omen's own client settings (clientsettings.Error: a
// password file moved away): each query fails at once, unsent, with it;
// nor a server certificate that does not verify (the query's handshake
// fails at once, see retryableQueryErr, and the poll's other queries
// fail unsent with it, see instant).
func serverFailing(err error) bool {
	if clientsettings.Is(err) || httptransport.IsCertificate(err) {
		return false // omen's own settings (a password file) or the certificate, not the server's state
	}
	if errors.As(err, new(notConnectedError)) {
		return true
	}
	var ae *v1.Error
	if errors.As(err, &ae) {
		switch ae.Type {
		case v1.ErrServer:
			// Prometheus answers a query that outlives its timeout
			// with a 503 of errorType "timeout": that query's trouble.
			return !strings.Contains(ae.Detail, `"errorType":"timeout"`) && !strings.Contains(ae.Detail, `"errorType":"canceled"`)
		case v1.ErrClient:
			return strings.HasSuffix(ae.Msg, " 429")
		}
		return false
	}
	if isTimeout(err) {
		return false
	}
	return !errors.Is(err, context.Canceled)
}

// isTimeout reports whether err is the client's deadline or a network
// timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

// notConnectedError is a query's timeout before its request got a
// connection (httptrace's GotConn was not called: the dial, or the TLS
// handshake, outlived the deadline): nothing was sent, so the server is
// unreachable rather than the query slow (see serverFailing). Its text
// says so after err's.
type notConnectedError struct{ err error }

func (e notConnectedError) Error() string {
	return e.err.Error() + " (no connection to the server before the deadline)"
}

func (e notConnectedError) Unwrap() error { return e.err }

// store appends b, if it holds samples, in one Append.
func (p *Poller) store(ctx context.Context, b telemetry.Batch) error {
	if len(b.Samples) == 0 {
		return nil
	}
	b.Received = time.Now().UnixMilli()
	return p.appendRetry(ctx, []telemetry.Batch{b})
}

// appendRetry appends bs in one Append, retrying retryable failures.
func (p *Poller) appendRetry(ctx context.Context, bs []telemetry.Batch) error {
	n := 0
	for i := range bs {
		n += len(bs[i].Samples)
	}
	backoff := p.opts.RetryBackoff
	for attempt := 0; ; attempt++ {
		err := p.app.Append(ctx, bs)
		if err == nil {
			p.m.samples.WithLabelValues(p.source).Add(float64(n))
			return nil
		}
		p.m.errors.WithLabelValues(ReasonAppend).Inc()
		if errors.Is(err, ErrInvalid) || attempt >= p.opts.MaxRetries || ctx.Err() != nil {
			return fmt.Errorf("store %d samples: %w", n, err)
		}
		p.logger.Warn("store samples; retrying", "err", err, "retry_in", backoff)
		if !sleep(ctx, backoff) {
			return fmt.Errorf("store %d samples: %w", n, ctx.Err())
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

// retry runs q until it succeeds, fails permanently or has been retried
// retries times. The back-off starts at RetryBackoff and doubles up to
// 30s; a 429 or 503 answer's Retry-After header (in seconds) replaces it
// for that retry, capped at 30s when until is zero. A retry that would
// start at or after until (the end of Run's poll step) is not made: the
// query fails with its last error (each attempt may last 1.5 x Timeout;
// retried past its step, a query delayed the next poll by as much again,
// and the step is caught up at its next successful poll anyway). A
// Retry-After beyond until fails the query at once and Run's queries (live
// and catch-up) are held back until the Retry-After has passed (see
// instant and storePoll): retried at the step's end, it came with the
// next poll's first query, two requests a step against a server asking
// for more. With until set, a Retry-After that came with the last attempt
// (a catch-up's range query has no retries) holds them back too.
func (p *Poller) retry(ctx context.Context, kind string, retries int, until time.Time, q func(context.Context) (v1.Warnings, error), name string) error {
	start := time.Now()
	defer func() { p.duration.WithLabelValues(kind).Observe(time.Since(start).Seconds()) }()
	backoff := p.opts.RetryBackoff
	for attempt := 0; ; attempt++ {
		// Prometheus enforces Timeout itself; the client deadline leaves it
		// room to answer with its own timeout error.
		var ra retryAfter
		var connected atomic.Bool // the request got a connection: it was sent
		qctx, cancel := context.WithTimeout(context.WithValue(ctx, retryAfterKey{}, &ra), p.opts.Timeout+p.opts.Timeout/2)
		qctx = httptrace.WithClientTrace(qctx, &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { connected.Store(true) }})
		warnings, err := q(qctx)
		cancel()
		if err != nil && !connected.Load() && isTimeout(err) && ctx.Err() == nil {
			err = notConnectedError{err}
		}
		promurl.Scrub(err) // the request's URL in a transport error: the base URL's query (a token)
		if len(warnings) > 0 {
			p.warnings.WithLabelValues(name).Add(float64(len(warnings)))
			p.logger.Warn("query warnings", "query", name, "warnings", strings.Join(warnings, "; "))
		}
		if err == nil {
			p.queryCount.WithLabelValues(kind, "ok").Inc()
			return nil
		}
		wait, held := backoff, false
		if ra.set {
			wait = min(ra.d, maxBackoff)
			if now := p.now(); !until.IsZero() {
				if now.Add(ra.d).After(until) {
					wait, held = ra.d, true
				}
				if held || attempt >= retries {
					// Not waited for here: the server's queries wait.
					p.hold.Store(&retryHold{until: now.Add(ra.d), err: p.queryError(err)})
				}
			}
		}
		// A retry past until would delay the next poll: the step is
		// caught up at the query's next successful poll instead.
		late := !until.IsZero() && !held && !p.now().Add(wait).Before(until)
		if !retryableQueryErr(err) || attempt >= retries || ctx.Err() != nil || held || late {
			p.queryCount.WithLabelValues(kind, "error").Inc()
			p.m.errors.WithLabelValues(ReasonQuery).Inc()
			switch {
			case held:
				p.logger.Debug("query failed; the server's Retry-After outlasts the poll's step: held back", "query", name, "err", err, "retry_after", wait)
			case late && retryableQueryErr(err) && attempt < retries && ctx.Err() == nil:
				p.logger.Debug("query failed; not retried past the poll's step", "query", name, "err", err)
			}
			return p.queryError(err)
		}
		p.queryCount.WithLabelValues(kind, "retry").Inc()
		p.logger.Debug("query failed; retrying", "query", name, "err", err, "retry_in", wait)
		if !sleep(ctx, wait) {
			return ctx.Err()
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

// maxBackoff bounds the retries' back-off.
const maxBackoff = 30 * time.Second

// retryAfter is the Retry-After of a query's 429 or 503 answer, which
// retryAfterTransport records into the one its request's context holds
// under retryAfterKey.
type retryAfter struct {
	d   time.Duration
	set bool
}

type retryAfterKey struct{}

// retryAfterTransport records the Retry-After header (delay-seconds; an
// HTTP date is ignored) of a 429 or 503 answer into the retryAfter of the
// request's context: the API client does not show the response to its
// caller.
type retryAfterTransport struct{ rt http.RoundTripper }

func (t retryAfterTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.rt.RoundTrip(r)
	if err != nil || (resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable) {
		return resp, err
	}
	if ra, ok := r.Context().Value(retryAfterKey{}).(*retryAfter); ok {
		if n, perr := strconv.ParseInt(strings.TrimSpace(resp.Header.Get("Retry-After")), 10, 64); perr == nil && n >= 0 {
			ra.d, ra.set = time.Duration(min(n, int64(24*time.Hour/time.Second)))*time.Second, true
		}
	}
	return resp, nil
}

// queryError names the Prometheus server in err, a query's error; a 404
// says the URL's path looks wrong (the client's error says only "client
// error: 404").
func (p *Poller) queryError(err error) error { return promurl.QueryError(p.url, err) }

// retryableQueryErr reports whether a query error may go away: timeouts,
// server errors, transport errors and a rate limit (429, from Prometheus
// or a proxy in front of it) do; bad queries (bad_data, other
// client_error, execution errors), omen's own client settings that do
// not read (clientsettings.Error: a password file moved away) and a
// server certificate that does not verify (an untrusted CA, another
// host's name, an expired certificate: omen's or the server's
// configuration, which a retry seconds later finds the same) do not.
func retryableQueryErr(err error) bool {
	if clientsettings.Is(err) || httptransport.IsCertificate(err) {
		return false
	}
	var ae *v1.Error
	if errors.As(err, &ae) {
		if ae.Type == v1.ErrClient && strings.HasSuffix(ae.Msg, " 429") {
			return true
		}
		switch ae.Type {
		case v1.ErrBadData, v1.ErrClient, v1.ErrExec, v1.ErrCanceled:
			return false
		}
		return true
	}
	return !errors.Is(err, context.Canceled)
}

// held returns the server's Retry-After hold while it lasts (nil: none,
// or passed).
func (p *Poller) held() *retryHold {
	if h := p.hold.Load(); h != nil && p.now().Before(h.until) {
		return h
	}
	return nil
}

// holdEndsBefore says whether a hold of d from now ends before ctx's
// deadline (false without one).
func holdEndsBefore(ctx context.Context, d time.Duration) bool {
	dl, ok := ctx.Deadline()
	return ok && time.Now().Add(d).Before(dl)
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// convert appends the samples of a query result to out. NaN and ±Inf are
// values PromQL returns (histogram_quantile over no requests, 0/0) and are
// kept.
func (p *Poller) convert(out []telemetry.Sample, name string, val model.Value) []telemetry.Sample {
	add := func(m model.Metric, t model.Time, v float64) {
		out = append(out, telemetry.Sample{Labels: p.labels(name, m), T: int64(t), V: v})
	}
	switch v := val.(type) {
	case model.Vector:
		for _, s := range v {
			if s.Histogram != nil {
				p.m.errors.WithLabelValues(ReasonUnsupported).Inc()
				continue
			}
			add(s.Metric, s.Timestamp, float64(s.Value))
		}
	case model.Matrix:
		for _, ss := range v {
			if len(ss.Histograms) > 0 {
				p.m.errors.WithLabelValues(ReasonUnsupported).Add(float64(len(ss.Histograms)))
			}
			if len(ss.Values) == 0 {
				continue
			}
			ls := p.labels(name, ss.Metric)
			for _, sp := range ss.Values {
				out = append(out, telemetry.Sample{Labels: ls, T: int64(sp.Timestamp), V: float64(sp.Value)})
			}
		}
	case *model.Scalar:
		add(nil, v.Timestamp, float64(v.Value))
	case nil:
	default:
		p.m.errors.WithLabelValues(ReasonUnsupported).Inc()
		p.logger.Warn("query result type not supported", "query", name, "type", val.Type().String())
	}
	return out
}

func (p *Poller) labels(name string, m model.Metric) labels.Labels {
	b := labels.NewScratchBuilder(len(m) + 1)
	b.Add(model.MetricNameLabel, name)
	if len(p.opts.EntityLabels) > 0 {
		for _, l := range p.opts.EntityLabels {
			if v, ok := m[model.LabelName(l)]; ok && v != "" && l != model.MetricNameLabel {
				b.Add(l, string(v))
			}
		}
	} else {
		for k, v := range m {
			if k != model.MetricNameLabel && v != "" {
				b.Add(string(k), string(v))
			}
		}
	}
	b.Sort()
	return b.Labels()
}
