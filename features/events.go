package features

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/internal/entityid"
	"github.com/omen-sre/omen/internal/intmath"
	"github.com/omen-sre/omen/telemetry"
)

// uidTTL is how long the last count of a Kubernetes event object (by UID) is
// remembered after it was last seen: the API server's default event TTL.
const uidTTL = int64(60 * 60 * 1000)

// eventStore keeps the recent occurrences per entity of the reasons the
// configuration uses. Times are data times in milliseconds.
//
// It holds at most max entities and max UIDs (the Head's MaxSeries,
// max_series in the configuration): an event of a new entity, or with a
// new UID, beyond either is dropped (cardinality) until gc frees room. The
// limits are shared by every publisher of events, like the Head's.
type eventStore struct {
	mu       sync.Mutex
	entities map[string]*entityEvents
	uids     map[string]uidState
	maxT     int64
	nextGC   int64
	max      int
	// filled is the newest step time fill has run at (ms): an event at or
	// before it comes after its step was evaluated (late).
	filled int64
}

type entityEvents struct {
	labels map[string]string
	recs   []eventRec
}

type eventRec struct {
	t      int64
	reason string // the configuration's own string
	msg    string
	n      int
	// m is what the event counts in under mc, the configuration it was
	// last matched under: a reload (same entity labels) keeps the records
	// and matches them again under the new one.
	m  *eventMatch
	mc *compiled
}

// eventTarget is an event feature's or label's index that a reason leads
// to, with the pattern an event's message must match (nil: any message).
type eventTarget struct {
	i  int
	re *regexp.Regexp
}

// reasonRules are the event features and labels one reason leads to.
type reasonRules struct {
	reason           string // the configuration's own string
	features, labels []eventTarget
	// all is the match of every event of the reason when no target has a
	// message pattern; nil otherwise.
	all *eventMatch
}

// eventMatch is what an event counts in: event feature and label indexes.
type eventMatch struct {
	features, labels []int
}

// compileEventRules indexes the event features and labels of r by reason.
func compileEventRules(r Config) (map[string]*reasonRules, error) {
	rules := map[string]*reasonRules{}
	add := func(reasons []string, messages map[string]string, i int, label bool) error {
		for _, reason := range reasons {
			rr := rules[reason]
			if rr == nil {
				rr = &reasonRules{reason: reason}
				rules[reason] = rr
			}
			ts := &rr.features
			if label {
				ts = &rr.labels
			}
			if slices.ContainsFunc(*ts, func(t eventTarget) bool { return t.i == i }) {
				continue
			}
			t := eventTarget{i: i}
			if p, ok := messages[reason]; ok {
				re, err := regexp.Compile(p)
				if err != nil {
					return fmt.Errorf("message pattern %q for reason %q: %w", p, reason, err)
				}
				t.re = re
			}
			*ts = append(*ts, t)
		}
		return nil
	}
	for i, f := range r.EventFeatures {
		if err := add(f.Reasons, f.Messages, i, false); err != nil {
			return nil, fmt.Errorf("event feature %q: %w", f.Name, err)
		}
	}
	for i, l := range r.Labels {
		if err := add(l.Reasons, l.Messages, i, true); err != nil {
			return nil, fmt.Errorf("label %q: %w", l.Name, err)
		}
	}
	hasPattern := func(t eventTarget) bool { return t.re != nil }
	for _, rr := range rules {
		if !slices.ContainsFunc(rr.features, hasPattern) && !slices.ContainsFunc(rr.labels, hasPattern) {
			rr.all = rr.match("")
		}
	}
	return rules, nil
}

// match returns what an event of the reason with message msg counts in,
// or nil when nothing.
func (rr *reasonRules) match(msg string) *eventMatch {
	if rr.all != nil {
		return rr.all
	}
	var m eventMatch
	for _, t := range rr.features {
		if t.re == nil || t.re.MatchString(msg) {
			m.features = append(m.features, t.i)
		}
	}
	for _, t := range rr.labels {
		if t.re == nil || t.re.MatchString(msg) {
			m.labels = append(m.labels, t.i)
		}
	}
	if len(m.features)+len(m.labels) == 0 {
		return nil
	}
	return &m
}

// eventMatch returns what an event of reason with message msg counts in
// under c, or nil when nothing.
func (c *compiled) eventMatch(reason, msg string) *eventMatch {
	rr := c.events[reason]
	if rr == nil {
		return nil
	}
	return rr.match(msg)
}

type uidState struct {
	count int
	t     int64
}

// newEventStore returns an event store of at most max entities and max
// UIDs.
func newEventStore(max int) *eventStore {
	return &eventStore{entities: map[string]*entityEvents{}, uids: map[string]uidState{}, maxT: math.MinInt64, nextGC: math.MinInt64, max: max, filled: math.MinInt64}
}

// LateFailure is a failure label that an event sets at a step evaluated
// before the event arrived (see Extractor.AddEventsLate): the step's
// vector, if stored, lacks it.
type LateFailure struct {
	// Entity is the event's entity ID.
	Entity string
	// T is the step the event belongs to, the one whose (T−step, T]
	// holds its time (ms).
	T int64
	// Label is the failure label's name (LabelDef.Name).
	Label string
}

// addResult is what eventStore.add did with a call's events.
type addResult struct {
	missing, old, cardinality int
	// late is the number of events at or before the last evaluated step,
	// and failures the labels they set at their steps.
	late     int
	failures []LateFailure
}

// AddEventsLate is AddEvents for the daemon's ingest, which must know
// about events that come too late for the steps they belong to: events
// (with a reason the configuration uses, an entity, and not a
// redelivery) at or before the last evaluated step, the newer of
// evaluated (ms; 0: none) and the last step Evaluate ran at. Such an event
// still counts in the event features of the steps evaluated from now on
// whose window holds it, but the evaluated ones were evaluated without
// it, and the failure labels it sets at its step (the step whose
// (T−step, T] holds it), returned in failures, are not on that step's
// vector: an evaluation labels only the events of its own step. late is
// the number of such events, whether or not they are also dropped as
// too old for the window (counted in omen_feature_dropped_total as
// AddEvents does).
func (e *Extractor) AddEventsLate(evs []telemetry.Event, evaluated int64) (late int, failures []LateFailure) {
	r := e.addEvents(evs, evaluated, true)
	return r.late, r.failures
}

// addEvents records events (see eventStore.add) and counts the dropped
// ones in omen_feature_dropped_total.
func (e *Extractor) addEvents(evs []telemetry.Event, evaluated int64, late bool) addResult {
	r := e.events.add(e.cfg.Load(), evs, evaluated, late)
	e.dropMissing.Add(float64(r.missing))
	e.dropTooOld.Add(float64(r.old))
	e.dropped.WithLabelValues(ReasonCardinality).Add(float64(r.cardinality))
	return r
}

// add records events and returns how many were dropped for missing entity
// labels, for being too old, and for a new entity or UID beyond the limit.
// With late set it also counts the events at or before the last evaluated
// step (the newer of evaluated, 0 for none, and the last fill) and returns
// the failure labels they set (see Extractor.AddEventsLate).
func (s *eventStore) add(c *compiled, evs []telemetry.Event, evaluated int64, late bool) (r addResult) {
	s.mu.Lock()
	defer s.mu.Unlock()
	done := int64(math.MinInt64)
	if late {
		done = s.filled
		if evaluated != 0 {
			done = max(done, evaluated)
		}
	}
	for i := range evs {
		ev := &evs[i]
		rr := c.events[ev.Reason]
		if rr == nil {
			continue
		}
		match := rr.match(ev.Message)
		if match == nil {
			continue
		}
		key, lbls, ok := c.eventEntity(ev.Labels)
		if !ok {
			r.missing++
			continue
		}
		n := max(ev.Count, 1)
		var st uidState
		var seen bool
		if ev.UID != "" {
			st, seen = s.uids[ev.UID]
			if seen && n <= st.count {
				// A redelivery or an older copy: nothing new happened.
				continue
			}
		}
		if ev.T > s.maxT {
			s.maxT = ev.T
		}
		tooOld := ev.T <= s.maxT-c.eventKeep
		e := s.entities[key]
		if !tooOld && e == nil && len(s.entities) >= s.max || ev.UID != "" && !seen && len(s.uids) >= s.max {
			r.cardinality++
			continue
		}
		if ev.UID != "" {
			uid := ev.UID
			if !seen {
				uid = strings.Clone(uid) // the event may point into a reused buffer
			}
			s.uids[uid] = uidState{count: n, t: max(ev.T, st.t)}
			if seen {
				n -= st.count
			}
		}
		if ev.T <= done {
			r.late++
			if labels := match.labels; len(labels) > 0 {
				// The step the event belongs to: (step−c.step, step] holds it.
				step := -intmath.FloorDiv(-ev.T, c.step) * c.step
				for _, li := range labels {
					r.failures = append(r.failures, LateFailure{Entity: key, T: step, Label: c.labelNames[li]})
				}
			}
		}
		if tooOld {
			r.old++
			continue
		}
		if e == nil {
			e = &entityEvents{labels: lbls}
			s.entities[key] = e
		}
		// The message is kept for a reload's new patterns; cloned, as the
		// event may point into a reused buffer.
		e.recs = append(e.recs, eventRec{t: ev.T, reason: rr.reason, msg: strings.Clone(ev.Message), n: n, m: match, mc: c})
	}
	if s.maxT != math.MinInt64 && s.maxT >= s.nextGC {
		s.nextGC = s.maxT + c.eventKeep/4
		s.gc(s.maxT - c.eventKeep)
	}
	return r
}

// gc forgets occurrences at or before minValid and UIDs not seen for uidTTL.
func (s *eventStore) gc(minValid int64) {
	for k, e := range s.entities {
		j := 0
		for _, r := range e.recs {
			if r.t > minValid {
				e.recs[j] = r
				j++
			}
		}
		clear(e.recs[j:])
		e.recs = e.recs[:j]
		if j == 0 {
			delete(s.entities, k)
		}
	}
	for uid, st := range s.uids {
		if st.t <= s.maxT-max(uidTTL, s.maxT-minValid) {
			delete(s.uids, uid)
		}
	}
}

// reset forgets everything (the entity labels changed).
func (s *eventStore) reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entities = map[string]*entityEvents{}
	s.uids = map[string]uidState{}
}

// fill adds the event counts and event-defined failures at t to the
// vectors, creating vectors for entities that only have events.
func (s *eventStore) fill(c *compiled, t int64, get func(key string, lbls map[string]string) *Vector) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.filled = max(s.filled, t)
	nf := len(c.cfg.Features)
	for key, e := range s.entities {
		var v *Vector
		for i := range e.recs {
			r := &e.recs[i]
			if r.t > t || r.t <= t-c.maxWindow {
				continue
			}
			if r.mc != c {
				r.m, r.mc = c.eventMatch(r.reason, r.msg), c
			}
			if r.m == nil {
				continue
			}
			for _, fi := range r.m.features {
				if r.t > t-c.windows[fi] {
					if v == nil {
						v = get(key, e.labels)
					}
					v.Values[nf+fi] += float64(r.n)
				}
			}
			if r.t > t-c.step {
				for _, li := range r.m.labels {
					if v == nil {
						v = get(key, e.labels)
					}
					v.Failure[li] = true
				}
			}
		}
	}
}

// entityOf resolves the entity of a label set: the values of the entity
// labels joined by "/", each escaped (internal/entityid: a "/" in a value
// is "%2F", a "%" "%25"). ok is false when one is missing.
func (c *compiled) entityOf(lset labels.Labels, b *strings.Builder) (string, bool) {
	b.Reset()
	for i, n := range c.entityLabels {
		v := lset.Get(n)
		if v == "" {
			return "", false
		}
		if i > 0 {
			b.WriteByte(entityid.Sep)
		}
		entityid.Append(b, v)
	}
	return b.String(), true
}

// labelMap returns the entity labels of lset; the values are copied, as
// lset may point into a reused buffer.
func (c *compiled) labelMap(lset labels.Labels) map[string]string {
	m := make(map[string]string, len(c.entityLabels))
	for _, n := range c.entityLabels {
		m[n] = strings.Clone(lset.Get(n))
	}
	return m
}

// eventEntity resolves an event's entity. An entity label the event lacks is
// taken from the involved object when its kind names that label: kind "Pod"
// with name "x" gives pod="x" (likewise Service, Deployment, Node, ...).
func (c *compiled) eventEntity(lset labels.Labels) (string, map[string]string, bool) {
	var b strings.Builder
	m := make(map[string]string, len(c.entityLabels))
	for i, n := range c.entityLabels {
		v := lset.Get(n)
		if v == "" && strings.EqualFold(lset.Get("kind"), n) {
			v = lset.Get("name")
		}
		if v == "" {
			return "", nil, false
		}
		if i > 0 {
			b.WriteByte(entityid.Sep)
		}
		entityid.Append(&b, v)
		m[n] = strings.Clone(v)
	}
	return b.String(), m, true
}
