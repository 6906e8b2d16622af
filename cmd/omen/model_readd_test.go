package main

import (
	"path/filepath"
	"testing"
)

// TestModelAddAgain: omen model add of a file registered already says so
// ("already registered as v1", and whether it is the active model) where
// it said "registered v1" and "active model is now v1" though nothing
// happened; --promote of a registered inactive version says it is active
// now.
func TestModelAddAgain(t *testing.T) {
	dir := t.TempDir()
	emptyStore(t, filepath.Join(dir, "s"))
	f1, f2 := writeModelFile(t, []string{"a", "b"}, "v1"), writeModelFile(t, []string{"a", "b"}, "v2")
	for _, tc := range []struct {
		name string
		args []string
		out  string
	}{
		{"new, promoted", []string{f1, "--promote"}, "registered v1\nactive model is now v1\n"},
		{"again", []string{f1}, "already registered as v1, the active model: nothing changed\n"},
		{"again, promoted", []string{f1, "--promote"}, "already registered as v1, the active model: nothing changed\n"},
		{"new", []string{f2}, "registered v2\n"},
		{"again, inactive", []string{f2}, "already registered as v2 (not active: omen model promote v2 makes it active)\n"},
		{"again, promoted now", []string{f2, "--promote"}, "already registered as v2\nactive model is now v2\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"model", "add", "--storage.path", filepath.Join(dir, "s")}, tc.args...)
			rc, out, errs := omen(t, args...)
			if rc != 0 || out != tc.out {
				t.Errorf("omen %q = %d, stdout %q, stderr %q; want 0, %q", args, rc, out, errs, tc.out)
			}
		})
	}
}
