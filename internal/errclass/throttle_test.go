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
