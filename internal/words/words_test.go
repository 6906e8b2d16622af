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
