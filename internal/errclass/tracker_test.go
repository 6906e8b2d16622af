package errclass

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestTracker: a key's failure starts at its first failure and at each
// change of class, goes on (counted) while the class stays the same, and
// ends at a success; keys are independent.
func TestTracker(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	at := func(k int) time.Time { return t0.Add(time.Duration(k) * time.Second) }
	type step struct {
		key   string
		class string // "": a success
		want  string // what the call returns, "-" for a success of a key not failing
	}
	steps := []step{
		{key: "a", want: "-"},
		{key: "a", class: "x", want: "started x since 1 count 1"},
		{key: "a", class: "x", want: "on x since 1 count 2"},
		{key: "b", class: "x", want: "started x since 3 count 1"},
		{key: "a", class: "x", want: "on x since 1 count 3"},
		{key: "a", class: "y", want: "started y since 5 count 1"},
		{key: "a", class: "y", want: "on y since 5 count 2"},
		{key: "a", want: "ended y since 5 count 2"},
		{key: "a", want: "-"},
		{key: "a", class: "y", want: "started y since 9 count 1"},
		{key: "b", want: "ended x since 3 count 1"},
	}
	var tr Tracker[string]
	for k, s := range steps {
		var got string
		if s.class == "" {
			f, ended := tr.Succeed(s.key)
			got = "-"
			if ended {
				got = fmt.Sprintf("ended %s since %d count %d", f.Class, f.Since.Sub(t0)/time.Second, f.Count)
			}
		} else {
			f, started := tr.Fail(s.key, s.class, at(k))
			verb := "on"
			if started {
				verb = "started"
			}
			got = fmt.Sprintf("%s %s since %d count %d", verb, f.Class, f.Since.Sub(t0)/time.Second, f.Count)
		}
		if got != s.want {
			t.Errorf("step %d (%s %q): %s, want %s", k, s.key, s.class, got, s.want)
		}
	}
	if n := tr.Len(); n != 1 {
		t.Errorf("Len %d, want 1 (a)", n)
	}
}

// TestTrackerForget: Forget ends the failures of the keys keep refuses,
// each given to ended once, and keeps the others' going on; a key
// forgotten that fails again starts a new failure.
func TestTrackerForget(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	var tr Tracker[string]
	tr.Forget(func(string) bool { return false }, nil) // the zero Tracker
	for _, k := range []string{"a", "b", "c"} {
		tr.Fail(k, "x", t0)
	}
	tr.Fail("a", "x", t0.Add(time.Second))
	var ended []string
	tr.Forget(func(k string) bool { return k == "b" }, func(k string, f Failure) {
		ended = append(ended, fmt.Sprintf("%s:%d", k, f.Count))
	})
	slices.Sort(ended)
	if want := []string{"a:2", "c:1"}; !slices.Equal(ended, want) {
		t.Errorf("ended %v, want %v", ended, want)
	}
	if tr.Len() != 1 {
		t.Errorf("Len %d, want 1 (b)", tr.Len())
	}
	if f, started := tr.Fail("b", "x", t0.Add(2*time.Second)); started || f.Count != 2 || !f.Since.Equal(t0) {
		t.Errorf("b after Forget kept it: %+v started %v, want its failure going on (count 2 since t0)", f, started)
	}
	if _, started := tr.Fail("a", "x", t0.Add(2*time.Second)); !started {
		t.Error("a failing again after Forget ended it: not a new failure")
	}
	tr.Forget(func(string) bool { return false }, nil) // ended nil
	if tr.Len() != 0 {
		t.Errorf("Len %d after forgetting all, want 0", tr.Len())
	}
}

// TestTrackerStructKeys: keys of any comparable type; two keys that
// differ in one field are two failures (the extractor's keys hold the
// expression).
func TestTrackerStructKeys(t *testing.T) {
	type key struct{ name, expr string }
	var tr Tracker[key]
	t0 := time.Unix(1700000000, 0)
	if _, started := tr.Fail(key{"f", "a"}, "x", t0); !started {
		t.Fatal("first failure not started")
	}
	if _, started := tr.Fail(key{"f", "b"}, "x", t0); !started {
		t.Fatal("another expression's failure not started")
	}
	if _, ended := tr.Succeed(key{"f", "a"}); !ended {
		t.Fatal("success did not end the failure")
	}
	if tr.Len() != 1 {
		t.Fatalf("Len %d, want 1", tr.Len())
	}
}
