package words

import "testing"

func TestJoinSome(t *testing.T) {
	for _, tc := range []struct {
		list []string
		most int
		want string
	}{
		{nil, 3, ""},
		{[]string{"a"}, 3, "a"},
		{[]string{"a", "b", "c"}, 3, "a, b, c"},
		{[]string{"a", "b", "c", "d", "e"}, 3, "a, b, c and 2 more"},
	} {
		if got := JoinSome(tc.list, tc.most); got != tc.want {
			t.Errorf("JoinSome(%q, %d) = %q, want %q", tc.list, tc.most, got, tc.want)
		}
	}
}

func TestPlural(t *testing.T) {
	for n, want := range map[int]string{0: "files", 1: "file", 2: "files"} {
		if got := Plural(n, "file", "files"); got != want {
			t.Errorf("Plural(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestNearest(t *testing.T) {
	names := []string{"lookback", "history", "storage.path", "Window"}
	for _, tc := range []struct{ s, want string }{
		{"lookbak", "lookback"},
		{"histroy", "history"},
		{"window", "Window"},
		{"storage.pth", "storage.path"},
		{"nothing-like-it", ""},
		{"", ""},
	} {
		if got := Nearest(tc.s, names); got != tc.want {
			t.Errorf("Nearest(%q) = %q, want %q", tc.s, got, tc.want)
		}
	}
}
