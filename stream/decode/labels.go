package decode

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	pmodel "github.com/prometheus/common/model"

	"github.com/prometheus/prometheus/model/labels"
)

// seriesEntry is an interned, validated label set, or the reason it was
// rejected.
type seriesEntry struct {
	lset   labels.Labels
	reason string
	msg    string
}

// seriesCache maps series-key bytes to label sets. It keeps two
// generations of at most max entries: when the current one is full it
// becomes the previous one and a new one starts, so recently used series
// survive (a cheap approximation of LRU without per-hit bookkeeping). The
// generations also turn every idle (see cacheAge), so that the label sets
// of series that stopped (churned pods) go although the cache stays under
// max.
type seriesCache struct {
	cur, prev map[string]seriesEntry
	max       int
	aging     cacheAge
}

func (c *seriesCache) init(max int, idle time.Duration, now int64) {
	c.max = max
	c.cur = make(map[string]seriesEntry)
	c.aging = cacheAge{idle: idle.Milliseconds(), at: now}
}

func (c *seriesCache) get(key []byte) (seriesEntry, bool) {
	if e, ok := c.cur[string(key)]; ok {
		return e, true
	}
	if e, ok := c.prev[string(key)]; ok {
		delete(c.prev, string(key))
		c.put(key, e)
		return e, true
	}
	return seriesEntry{}, false
}

func (c *seriesCache) put(key []byte, e seriesEntry) {
	if c.max == 0 {
		return
	}
	if len(c.cur) >= c.max {
		c.turn(c.max)
	}
	c.cur[string(key)] = e
}

// turn makes the current generation the previous one, dropping the
// previous one, and starts a new one of capacity size.
func (c *seriesCache) turn(size int) {
	c.prev = c.cur
	c.cur = make(map[string]seriesEntry, size)
}

// age turns the generations when the cache's idle has passed since the
// last aging (now in Unix ms).
func (c *seriesCache) age(now int64) {
	if c.aging.due(now) {
		c.turn(min(len(c.cur), 1024))
	}
}

func (c *seriesCache) len() int { return len(c.cur) + len(c.prev) }

// lineEntry holds the label sets of the fields of one influx series key
// (measurement and tags): a line's fields are looked up by position and
// checked by name, so a line costs one hash of its series key instead of
// one per field.
type lineEntry struct {
	fields []lineField
}

type lineField struct {
	key  string        // raw (escaped) field key, interned
	lset labels.Labels // the series, when accepted
	rej  *seriesEntry  // why it was rejected, else nil
}

// maxLineFields bounds the fields one series key caches (a writer with
// ever-changing field keys would otherwise grow an entry without bound).
const maxLineFields = 256

// lookup returns the entry of field key fkey, the k-th field of the line.
func (le *lineEntry) lookup(k int, fkey []byte) (seriesEntry, bool) {
	if k < len(le.fields) && le.fields[k].key == string(fkey) {
		return le.fields[k].entry(), true
	}
	if k >= maxLineFields {
		// Beyond what an entry caches: a scan per field would make a
		// line of many fields quadratic; its series is built afresh.
		return seriesEntry{}, false
	}
	for i := range le.fields {
		if le.fields[i].key == string(fkey) {
			return le.fields[i].entry(), true
		}
	}
	return seriesEntry{}, false
}

func (f *lineField) entry() seriesEntry {
	if f.rej != nil {
		return *f.rej
	}
	return seriesEntry{lset: f.lset}
}

// add caches the entry of field key fkey (interned in c); n is the
// number of fields of the line, the likely size of the entry.
func (le *lineEntry) add(c *lineCache, fkey []byte, e seriesEntry, n int) {
	if len(le.fields) >= maxLineFields {
		return
	}
	if le.fields == nil {
		le.fields = make([]lineField, 0, min(n, maxLineFields))
	}
	f := lineField{key: c.intern(fkey), lset: e.lset}
	if e.reason != "" {
		rej := e // only rejections are allocated
		f.rej = &rej
	}
	le.fields = append(le.fields, f)
}

// lineCache maps influx series keys to their lineEntry. Like seriesCache
// it keeps two generations, each of at most max label sets (fields).
type lineCache struct {
	cur, prev map[string]*lineEntry
	n, max    int // n counts the fields of cur's entries when last seen
	aging     cacheAge
	// keys interns field keys: a fleet has few distinct ones.
	keys map[string]string
}

// maxFieldKeys bounds the interned field keys; beyond it keys are copied.
const maxFieldKeys = 4096

func (c *lineCache) init(max int, idle time.Duration, now int64) {
	c.max = max
	c.cur = make(map[string]*lineEntry)
	c.keys = make(map[string]string)
	c.aging = cacheAge{idle: idle.Milliseconds(), at: now}
}

// turn makes the current generation the previous one, dropping the
// previous one, and starts a new one of capacity size.
func (c *lineCache) turn(size int) {
	c.prev = c.cur
	c.cur = make(map[string]*lineEntry, size)
	c.n = 0
}

// age turns the generations when the cache's idle has passed since the
// last aging (now in Unix ms).
func (c *lineCache) age(now int64) {
	if c.aging.due(now) {
		c.turn(min(len(c.cur), 1024))
	}
}

func (c *lineCache) intern(b []byte) string {
	if s, ok := c.keys[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(c.keys) < maxFieldKeys {
		c.keys[s] = s
	}
	return s
}

// get returns the entry of series key sk, creating it when missing. With
// a cache size of 0 it returns a fresh entry every time.
func (c *lineCache) get(sk []byte) *lineEntry {
	if e, ok := c.cur[string(sk)]; ok {
		return e
	}
	e, ok := c.prev[string(sk)]
	if !ok {
		e = &lineEntry{}
	}
	if c.max == 0 {
		return e
	}
	if ok {
		delete(c.prev, string(sk))
	}
	if c.n >= c.max {
		c.turn(len(c.cur))
	}
	c.cur[string(sk)] = e
	// Fields added to e later are not counted: one line's worth (the
	// entry's size now, or a typical 8 when new) approximates it.
	c.n += max(len(e.fields), 8)
	return e
}

func (c *lineCache) len() int {
	n := 0
	for _, m := range [2]map[string]*lineEntry{c.cur, c.prev} {
		for _, e := range m {
			n += len(e.fields)
		}
	}
	return n
}

// cacheAge turns a cache's two generations every idle, as the
// remote-write label cache does (stream's labelCache.age): an entry used
// within the last idle is in the current generation (a hit in the
// previous one moves it there), one unused for two idles is gone. Times
// are Unix milliseconds of the Decoder's clock.
type cacheAge struct {
	idle int64 // ms between two turns; 0 or less: never
	at   int64 // the last turn (or the cache's start)
}

// due reports whether idle has passed since the last turn, and if so
// counts now as the next one.
func (a *cacheAge) due(now int64) bool {
	if a.idle <= 0 || now-a.at < a.idle {
		return false
	}
	a.at = now
	return true
}

// Cache key prefixes keep the formats' keys apart.
const (
	keyInflux byte = 'i'
	keyProm   byte = 'p'
	keyJSON   byte = 'j'
)

func isMetricFirst(r rune) bool {
	return r == ':' || r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
}

func isMetricRest(r rune) bool { return isMetricFirst(r) || (r >= '0' && r <= '9') }

func isLabelFirst(r rune) bool {
	return r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z')
}

func isLabelRest(r rune) bool { return isLabelFirst(r) || (r >= '0' && r <= '9') }

func validMetricName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := rune(s[i])
		if i == 0 && !isMetricFirst(c) || i > 0 && !isMetricRest(c) {
			return false
		}
	}
	return true
}

func validLabelName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := rune(s[i])
		if i == 0 && !isLabelFirst(c) || i > 0 && !isLabelRest(c) {
			return false
		}
	}
	return true
}

// ValidLabelValue reports why label value v cannot be accepted, or nil:
// it must be valid UTF-8 and hold no NUL byte. The store uses NUL as a
// key separator and refuses names holding one (store.ValidEntity), so a
// value with NUL that reached an entity name would otherwise be refused
// at every step. Every decoder applies it (the sample, line or item is
// rejected as malformed); remote write should too.
func ValidLabelValue(v string) error {
	if !utf8.ValidString(v) {
		return fmt.Errorf("value %.64q is not valid UTF-8", v)
	}
	if strings.IndexByte(v, 0) >= 0 {
		return fmt.Errorf("value %.64q contains a NUL byte", v)
	}
	return nil
}

// sanitizeName makes s a valid metric (metric=true) or label name the way
// Telegraf's prometheus serializer does: a valid name is kept; otherwise an
// invalid first rune is dropped, later invalid runes become "_", and
// leading and trailing "_" are trimmed. The result may be empty, meaning
// the name cannot be used.
func sanitizeName(s string, metric bool) string {
	if metric && validMetricName(s) || !metric && validLabelName(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i, r := range s {
		var ok bool
		switch {
		case i == 0 && metric:
			ok = isMetricFirst(r)
		case i == 0:
			ok = isLabelFirst(r)
		case metric:
			ok = isMetricRest(r)
		default:
			ok = isLabelRest(r)
		}
		switch {
		case ok:
			b.WriteRune(r)
		case i > 0:
			b.WriteByte('_')
		}
	}
	return strings.Trim(b.String(), "_")
}

// finishLabels validates and builds the label set collected in d.pairs.
// Names are sanitized (those that sanitize to nothing are dropped), empty
// values are dropped. With metric set, a valid __name__ is required and the
// sample's RequiredLabels apply, otherwise the RequiredEventLabels. On
// rejection it returns the reason and, when detail is set, a message.
func (d *Decoder) finishLabels(metric, detail bool) (lset labels.Labels, reason, msg string) {
	ps := d.pairs[:0]
	for _, p := range d.pairs {
		if p.Value == "" {
			continue
		}
		if p.Name != pmodel.MetricNameLabel {
			p.Name = sanitizeName(p.Name, false)
			if p.Name == "" {
				continue
			}
		}
		ps = append(ps, p)
	}
	d.pairs = ps
	for _, p := range ps {
		if err := ValidLabelValue(p.Value); err != nil {
			if detail {
				msg = fmt.Sprintf("label %s: %v", p.Name, err)
			}
			return lset, ReasonMalformed, msg
		}
		if len(p.Value) > d.opts.MaxLabelValueLen || len(p.Name) > d.opts.MaxLabelValueLen && p.Name != pmodel.MetricNameLabel {
			if detail {
				msg = fmt.Sprintf("label %.64s is longer than %d bytes", p.Name, d.opts.MaxLabelValueLen)
			}
			return lset, ReasonTooManyLabels, msg
		}
	}
	if len(ps) > d.opts.MaxLabels {
		if detail {
			msg = fmt.Sprintf("%d labels exceed the limit of %d", len(ps), d.opts.MaxLabels)
		}
		return lset, ReasonTooManyLabels, msg
	}
	slices.SortFunc(ps, func(a, b labels.Label) int { return strings.Compare(a.Name, b.Name) })
	for i := 1; i < len(ps); i++ {
		if ps[i].Name == ps[i-1].Name {
			if detail {
				msg = fmt.Sprintf("duplicate label %s", ps[i].Name)
			}
			return lset, ReasonMalformed, msg
		}
	}
	required := d.opts.RequiredEventLabels
	if metric {
		required = d.opts.RequiredLabels
		if len(ps) == 0 || ps[0].Name != pmodel.MetricNameLabel {
			if detail {
				msg = "no metric name"
			}
			return lset, ReasonMalformed, msg
		}
		if !validMetricName(ps[0].Value) {
			if detail {
				msg = fmt.Sprintf("invalid metric name %q", ps[0].Value)
			}
			return lset, ReasonMalformed, msg
		}
	}
	for _, r := range required {
		i, ok := slices.BinarySearchFunc(ps, r, func(l labels.Label, n string) int { return strings.Compare(l.Name, n) })
		if !ok || ps[i].Value == "" {
			if detail {
				msg = fmt.Sprintf("required label %s is missing", r)
			}
			return lset, ReasonMissingLabels, msg
		}
	}
	d.builder.Reset()
	for _, p := range ps {
		d.builder.Add(p.Name, p.Value)
	}
	return d.builder.Labels(), "", ""
}
