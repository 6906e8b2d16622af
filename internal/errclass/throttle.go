package errclass

import (
	"slices"
	"time"
)

// Throttle follows runs of failures by key, as Tracker does, for an owner
// that logs a run at a level above debug when it starts and then at most
// every Every while it goes on (a retried write during a disk outage, a
// step that fails at every evaluation), rather than once per class: Fail
// says which failures to log, Succeed ends a run for the owner's "works
// again" record. A run is every failure of its key until a success,
// whatever the errors; FailClass also logs the first failure of each
// class seen in the run (a dial refused while a server restarts, then
// the credentials it refuses once it is up).
//
// The zero Throttle logs a run once a minute. A Throttle is not safe for
// concurrent use: its owner serializes the calls, and holds it by pointer.
type Throttle[K comparable] struct {
	// Every is how often a run of failures is logged after its first
	// failure; 0 means a minute.
	Every time.Duration

	tr      Tracker[K]
	logged  map[K]time.Time
	classes map[K][]string // the classes seen in key's run (FailClass)
}

// Fail records a failure of key at now. It returns the run of failures
// after the count and how the owner logs this one: first when key was not
// failing, again when Every has passed since the run was last logged
// (first or again), neither for a failure to log at debug level or not at
// all.
func (th *Throttle[K]) Fail(key K, now time.Time) (f Failure, first, again bool) {
	return th.FailClass(key, "", now)
}

// FailClass records a failure of key at now with an error of class, as
// Fail does, and returns first true too for the first failure of a class
// not seen since key's run started (f.Count above 1 tells it from a new
// run; f.Since stays the run's start): the owner logs it as it logs a
// run's first failure, and then at most every Every, whatever the
// class. A class seen earlier in the run is not logged again (a failure
// alternating between two classes is logged twice, not at every
// attempt). f.Class is class.
func (th *Throttle[K]) FailClass(key K, class string, now time.Time) (f Failure, first, again bool) {
	f, first = th.tr.Fail(key, "", now)
	f.Class = class
	if first {
		delete(th.classes, key)
	}
	if !slices.Contains(th.classes[key], class) {
		if th.classes == nil {
			th.classes = map[K][]string{}
		}
		th.classes[key] = append(th.classes[key], class)
		first = true
	}
	every := th.Every
	if every <= 0 {
		every = time.Minute
	}
	if !first && now.Sub(th.logged[key]) < every {
		return f, false, false
	}
	if th.logged == nil {
		th.logged = map[K]time.Time{}
	}
	th.logged[key] = now
	return f, first, !first
}

// Succeed ends the run of failures of key, if any, and returns it with
// ended true; ended is false when key was not failing.
func (th *Throttle[K]) Succeed(key K) (f Failure, ended bool) {
	delete(th.logged, key)
	delete(th.classes, key)
	return th.tr.Succeed(key)
}

// Forget ends the run of each failing key for which keep returns false
// (no longer retried, which no success will end), calling ended with
// each, in no particular order. ended may be nil.
func (th *Throttle[K]) Forget(keep func(K) bool, ended func(K, Failure)) {
	th.tr.Forget(keep, func(k K, f Failure) {
		delete(th.logged, k)
		delete(th.classes, k)
		if ended != nil {
			ended(k, f)
		}
	})
}
