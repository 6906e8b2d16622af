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

// TestNearestWithin: a name more edits away than allowed is no hint,
// however long s is (Nearest allows a quarter of its length).
func TestNearestWithin(t *testing.T) {
	names := []string{"shop/cart-7d9f8b6c5-abcde", "shop/cart-7d9f8b6c5-x2k9p"}
	for _, tc := range []struct {
		s     string
		edits int
		want  string
	}{
		{"shop/cart-7d9f8b6c5-x2k9q", 2, "shop/cart-7d9f8b6c5-x2k9p"},
		{"shop/cart-7d9f8b6c5-x2k8q", 2, "shop/cart-7d9f8b6c5-x2k9p"},
		{"Shop/Cart-7d9f8b6c5-ABCDE", 0, "shop/cart-7d9f8b6c5-abcde"},
		{"shop/cart-7d9f8b6c5-q8w7e", 2, ""},
		{"shop/cart-7d9f8b6c5-x3k8q", 2, ""},
		{"shop/cart-7d9f8b6c5-x3k8q", 3, "shop/cart-7d9f8b6c5-x2k9p"},
	} {
		if got := NearestWithin(tc.s, names, tc.edits); got != tc.want {
			t.Errorf("NearestWithin(%q, %d) = %q, want %q", tc.s, tc.edits, got, tc.want)
		}
	}
}

// TestNearestShort: a short word gets a hint only of a name at most one
// edit per three letters away (of the longer of the two), a swap of two
// adjacent letters one edit: --nope got --top (two edits of four letters,
// within Nearest's 2), which it is no typo of.
func TestNearestShort(t *testing.T) {
	flags := []string{"top", "dir", "url", "history", "lookback", "window", "token-file", "storage.path"}
	for _, tc := range []struct{ s, want string }{
		{"nope", ""},
		{"x", ""},
		{"up", ""},
		{"tpo", "top"},
		{"to", "top"},
		{"stop", "top"},
		{"dri", "dir"},
		{"ur", "url"},
		{"windwo", "window"},
		{"widnwo", "window"},
		{"hist", ""},
		{"histroy", "history"},
		{"tokne-fiel", "token-file"},
		{"storage-pth", "storage.path"},
	} {
		if got := Nearest(tc.s, flags); got != tc.want {
			t.Errorf("Nearest(%q) = %q, want %q", tc.s, got, tc.want)
		}
	}
}

// TestEditDistance: a swap of two adjacent letters is one edit.
func TestEditDistance(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"", "abc", 3},
		{"abc", "abc", 0},
		{"abc", "acb", 1},
		{"ca", "abc", 3}, // no letter edited twice
		{"nope", "top", 2},
		{"kitten", "sitting", 3},
	} {
		if got := editDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := editDistance(tc.b, tc.a); got != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.b, tc.a, got, tc.want)
		}
	}
}
