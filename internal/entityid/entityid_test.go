package entityid

import (
	"slices"
	"strings"
	"testing"
)

func TestJoinSplit(t *testing.T) {
	tests := []struct {
		values []string
		id     string
	}{
		// Values without "/" or "%": joined as they are, as always.
		{[]string{"payments", "api-7f9c-x2k"}, "payments/api-7f9c-x2k"},
		{[]string{"boutique", "cartservice-7d9f8c6b5-xk2p1"}, "boutique/cartservice-7d9f8c6b5-xk2p1"},
		{[]string{"machine-1-1"}, "machine-1-1"},
		{[]string{"a b", "ü\\x", "@:?#=,"}, "a b/ü\\x/@:?#=,"},
		// The reviewer's pair: one ID before, two now.
		{[]string{"col/x", "y"}, "col%2Fx/y"},
		{[]string{"col", "x/y"}, "col/x%2Fy"},
		{[]string{"100%", "%2F"}, "100%25/%252F"},
		{[]string{"/", "//"}, "%2F/%2F%2F"},
		{[]string{"", "a"}, "/a"},
		{[]string{""}, ""},
	}
	for _, tc := range tests {
		if got := Join(tc.values); got != tc.id {
			t.Errorf("Join(%q) = %q, want %q", tc.values, got, tc.id)
		}
		got, err := Split(tc.id)
		if err != nil || !slices.Equal(got, tc.values) {
			t.Errorf("Split(%q) = %q, %v; want %q", tc.id, got, err, tc.values)
		}
	}
}

func TestSplitInvalid(t *testing.T) {
	for _, id := range []string{"%", "a/%2", "%2f", "%41", "a%/b", "%%25"} {
		if v, err := Split(id); err == nil {
			t.Errorf("Split(%q) = %q, want an error", id, v)
		}
	}
}

// TestUnchanged: an ID of values without "/" or "%" is byte for byte the
// values joined by "/", the IDs omen made before values were escaped
// (stored data, API URLs, Alertmanager labels and model metadata keep
// them).
func TestUnchanged(t *testing.T) {
	values := []string{"kube-system", "coredns-5d78c9869d-abcde", "job:node_exporter", "svc.cluster.local", "ns\\x", "", "ü"}
	for i := range values {
		for j := range values {
			v := []string{values[i], values[j]}
			if got, want := Join(v), strings.Join(v, "/"); got != want {
				t.Errorf("Join(%q) = %q, want %q", v, got, want)
			}
		}
	}
}

// FuzzJoin: Split(Join(values)) is values for any values (NUL separates
// them in the fuzzed text), Join of distinct values differs, and values
// without "/" or "%" join as strings.Join(values, "/").
func FuzzJoin(f *testing.F) {
	for _, s := range []string{"col/x\x00y", "col\x00x/y", "a", "", "%\x00/", "%2F\x00%25", "\x00\x00", "payments\x00api-7f9c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		values := strings.Split(s, "\x00")
		id := Join(values)
		got, err := Split(id)
		if err != nil || !slices.Equal(got, values) {
			t.Fatalf("Split(Join(%q)) = Split(%q) = %q, %v", values, id, got, err)
		}
		if !strings.ContainsAny(s, special) && id != strings.Join(values, "/") {
			t.Fatalf("Join(%q) = %q, want it unchanged", values, id)
		}
		// Moving a "/" from one value to the next must change the ID.
		for i := 0; i+1 < len(values); i++ {
			if k := strings.IndexByte(values[i], '/'); k >= 0 {
				other := slices.Clone(values)
				other[i], other[i+1] = values[i][:k], values[i][k+1:]+"/"+values[i+1]
				if Join(other) == id {
					t.Fatalf("Join(%q) = Join(%q) = %q", values, other, id)
				}
			}
		}
	})
}

// FuzzSplit: an ID that Split accepts is Join of its values, and Split
// never panics.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{"col%2Fx/y", "col/x%2Fy", "%", "%2", "%2f", "%252F", "/", "", "a//b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		values, err := Split(id)
		if err != nil {
			if !strings.Contains(id, "%") {
				t.Fatalf("Split(%q): %v; an ID without %% always splits", id, err)
			}
			return
		}
		if got := Join(values); got != id {
			t.Fatalf("Join(Split(%q)) = Join(%q) = %q", id, values, got)
		}
	})
}

func BenchmarkAppendPlain(b *testing.B) {
	var sb strings.Builder
	for b.Loop() {
		sb.Reset()
		Append(&sb, "boutique")
		sb.WriteByte(Sep)
		Append(&sb, "cartservice-7d9f8c6b5-xk2p1")
	}
}
