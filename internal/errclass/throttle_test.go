package errclass

import (
	"fmt"
	"testing"
	"time"
)

// TestThrottle: a run of failures is logged at its first failure, then
// at most every Every (a minute when unset) measured from the last
// logged one, whatever the errors; a success ends it, and the next
// failure starts a new run logged at once; keys are independent, and
// Forget ends the runs it drops.
func TestThrottle(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	type step struct {
		key  string
		sec  int
		ok   bool   // a success
		want string // first, again, quiet; ended, none for a success
	}
	tests := []struct {
		name  string
		every time.Duration
		steps []step
	}{
		{name: "a minute by default", steps: []step{
			{"a", 0, false, "first 1"}, {"a", 10, false, "quiet 2"}, {"a", 59, false, "quiet 3"},
			{"a", 60, false, "again 4"}, {"b", 61, false, "first 1"}, {"a", 100, false, "quiet 5"},
			{"a", 120, false, "again 6"}, {"a", 130, true, "ended 6 since 0"}, {"a", 131, true, "none"},
			{"a", 140, false, "first 1"}, {"b", 121, false, "again 2"},
		}},
		{name: "every 10s", every: 10 * time.Second, steps: []step{
			{"a", 0, false, "first 1"}, {"a", 5, false, "quiet 2"}, {"a", 10, false, "again 3"},
			{"a", 19, false, "quiet 4"}, {"a", 25, false, "again 5"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			th := Throttle[string]{Every: tc.every}
			for i, s := range tc.steps {
				var got string
				if s.ok {
					f, ended := th.Succeed(s.key)
					got = "none"
					if ended {
						got = fmt.Sprintf("ended %d since %d", f.Count, int(f.Since.Sub(t0)/time.Second))
					}
				} else {
					f, first, again := th.Fail(s.key, at(s.sec))
					switch {
					case first && again:
						got = "both"
					case first:
						got = fmt.Sprintf("first %d", f.Count)
					case again:
						got = fmt.Sprintf("again %d", f.Count)
					default:
						got = fmt.Sprintf("quiet %d", f.Count)
					}
				}
				if got != s.want {
					t.Errorf("step %d (%s at %ds): %s, want %s", i, s.key, s.sec, got, s.want)
				}
			}
		})
	}

	var th Throttle[string]
	th.Fail("a", at(0))
	th.Fail("b", at(0))
	var forgot []string
	th.Forget(func(k string) bool { return k == "b" }, func(k string, f Failure) { forgot = append(forgot, fmt.Sprint(k, f.Count)) })
	if fmt.Sprint(forgot) != "[a1]" {
		t.Errorf("Forget ended %v, want [a1]", forgot)
	}
	if _, first, _ := th.Fail("a", at(1)); !first {
		t.Error("a failure after Forget does not start a new run")
	}
	if _, first, again := th.Fail("b", at(1)); first || again {
		t.Error("a kept key's run was ended by Forget")
	}
}

// TestThrottleFailClass: FailClass logs a run's first failure and the
// first of each class not seen in the run as first (with the run's
// start and count kept), a class seen before only every Every, and a
// success forgets the classes.
func TestThrottleFailClass(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	var th Throttle[string]
	for i, s := range []struct {
		class string
		sec   int
		ok    bool
		want  string
	}{
		{"dial", 0, false, "first 1 since 0"}, {"dial", 1, false, "quiet 2 since 0"},
		{"auth", 2, false, "first 3 since 0"}, {"auth", 3, false, "quiet 4 since 0"},
		{"dial", 4, false, "quiet 5 since 0"}, {"auth", 5, false, "quiet 6 since 0"},
		{"tls", 6, false, "first 7 since 0"}, {"auth", 66, false, "again 8 since 0"},
		{"", 67, true, "ended 8"},
		{"auth", 70, false, "first 1 since 70"}, {"dial", 71, false, "first 2 since 70"},
	} {
		var got string
		if s.ok {
			f, _ := th.Succeed("a")
			got = fmt.Sprintf("ended %d", f.Count)
		} else {
			f, first, again := th.FailClass("a", s.class, at(s.sec))
			kind := "quiet"
			switch {
			case first && again:
				kind = "both"
			case first:
				kind = "first"
			case again:
				kind = "again"
			}
			got = fmt.Sprintf("%s %d since %d", kind, f.Count, int(f.Since.Sub(t0)/time.Second))
			if f.Class != s.class {
				t.Errorf("step %d: class %q, want %q", i, f.Class, s.class)
			}
		}
		if got != s.want {
			t.Errorf("step %d (%q at %ds): %s, want %s", i, s.class, s.sec, got, s.want)
		}
	}
}
