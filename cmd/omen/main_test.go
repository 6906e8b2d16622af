package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestDispatch(t *testing.T) {
	for _, tc := range []struct {
		args []string
		rc   int
		out  string
	}{
		{[]string{"version"}, 0, "omen, version"},
		{[]string{"check", "config", "testdata/good.yml"}, 0, "SUCCESS: 1 features, 1 event features, 1 failure labels"},
		{[]string{"check", "config", "testdata/bad.yml"}, 1, "testdata/bad.yml:3:11: feature \"broken\""},
		{[]string{"check", "config", "testdata/missing.yml"}, 1, "FAILED"},
		{[]string{"check"}, 2, ""},
		{[]string{"nonsense"}, 2, ""},
		{[]string{"eval", "nope"}, 2, ""},
		{[]string{"bench", "nope"}, 2, ""},
		{[]string{"run", "--no-such-flag"}, 2, ""},
	} {
		var out, errb bytes.Buffer
		rc := dispatch(tc.args, &out, &errb)
		if rc != tc.rc || !strings.Contains(out.String(), tc.out) {
			t.Errorf("omen %v = %d, stdout %q stderr %q; want %d with %q", tc.args, rc, out.String(), errb.String(), tc.rc, tc.out)
		}
	}
}
