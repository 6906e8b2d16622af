package errclass

import "time"

// Tracker follows what fails repeatedly (a poller's queries, an
// extractor's feature queries), by key, so that its owner logs a failure
// without flooding: a warning when a key starts failing or fails with
// another class of error (Fail returns started), debug records while the
// class stays the same, and an info record when the key succeeds again
// (Succeed) or is no longer evaluated (Forget). The Tracker holds the
// state; the owner writes the records, with its own messages and
// attributes.
//
// A key names what is evaluated, with whatever makes it another thing to
// its owner (the extractor's keys hold the expression: a reload that
// changes it makes a new key, whose old failure Forget ends). The class
// is what tells one failure of a key from another: Of of the error's text,
// or the owner's own (the poller's holds the query's expression too, so
// that a changed expression under the same name is a new failure).
//
// The zero Tracker is ready to use. A Tracker is not safe for concurrent
// use: its owner serializes the calls (the poller's Run goroutine alone
// calls it; the extractor holds a mutex), and holds it by pointer.
type Tracker[K comparable] struct {
	failing map[K]*Failure
}

// Failure is a key's failure: the class of its errors, when it started
// failing with that class, and how many evaluations in a row have failed
// with it (the first included).
type Failure struct {
	Class string
	Since time.Time
	Count int
}

// Fail records a failed evaluation of key at t with an error of class. It
// returns the key's failure after the count, and started: true when key
// was not failing, or was failing with another class (a new failure,
// since t, the first of its count), false when the failure goes on.
func (tr *Tracker[K]) Fail(key K, class string, t time.Time) (f Failure, started bool) {
	if cur := tr.failing[key]; cur != nil && cur.Class == class {
		cur.Count++
		return *cur, false
	}
	if tr.failing == nil {
		tr.failing = map[K]*Failure{}
	}
	f = Failure{Class: class, Since: t, Count: 1}
	tr.failing[key] = &f
	return f, true
}

// Succeed records a successful evaluation of key: it ends the key's
// failure, if any, and returns it with ended true; ended is false when
// key was not failing.
func (tr *Tracker[K]) Succeed(key K) (f Failure, ended bool) {
	cur := tr.failing[key]
	if cur == nil {
		return Failure{}, false
	}
	delete(tr.failing, key)
	return *cur, true
}

// Forget ends the failure of each failing key for which keep returns
// false (no longer evaluated: a reload removed or changed it, which no
// success will end), calling ended with each, in no particular order.
// ended may be nil.
func (tr *Tracker[K]) Forget(keep func(K) bool, ended func(K, Failure)) {
	for k, f := range tr.failing {
		if keep(k) {
			continue
		}
		delete(tr.failing, k)
		if ended != nil {
			ended(k, *f)
		}
	}
}

// Len returns how many keys are failing.
func (tr *Tracker[K]) Len() int { return len(tr.failing) }
