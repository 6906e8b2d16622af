package tlsfiles

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/omen-sre/omen/internal/testenv"
)

// TestCheck: a CA file with a certificate and a certificate with its key
// pass; a file that does not read is its *fs.PathError, a CA file without
// a certificate ErrNoCertificate, a key of another certificate a
// KeyPairError with PairErr; no error holds a file's content.
func TestCheck(t *testing.T) {
	dir := t.TempDir()
	ca := testenv.NewCA(t, dir, "ca")
	cert, key := filepath.Join(dir, "c.pem"), filepath.Join(dir, "c-key.pem")
	ca.Issue(t, cert, key, "client", false)
	otherKey := filepath.Join(dir, "o-key.pem")
	ca.Issue(t, filepath.Join(dir, "o.pem"), otherKey, "other", false)
	garbage := filepath.Join(dir, "garbage")
	if err := os.WriteFile(garbage, []byte("s3cret-content\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing")
	pathErr := func(err error) bool { _, ok := errors.AsType[*fs.PathError](err); return ok }
	for _, tc := range []struct {
		name string
		err  error
		ok   func(error) bool
	}{
		{"CA", CheckCA(ca.File), func(err error) bool { return err == nil }},
		{"CA missing", CheckCA(missing), pathErr},
		{"CA garbage", CheckCA(garbage), func(err error) bool { return errors.Is(err, ErrNoCertificate) }},
		{"pair", CheckKeyPair(cert, key), func(err error) bool { return err == nil }},
		{"cert missing", CheckKeyPair(missing, key), func(err error) bool {
			pe, ok := errors.AsType[*KeyPairError](err)
			return ok && pathErr(pe.CertErr) && pe.KeyErr == nil && pe.PairErr == nil && strings.Contains(err.Error(), missing)
		}},
		{"both missing", CheckKeyPair(missing, missing+"-key"), func(err error) bool {
			pe, ok := errors.AsType[*KeyPairError](err)
			return ok && pathErr(pe.CertErr) && pathErr(pe.KeyErr) && pe.PairErr == nil
		}},
		{"key garbage", CheckKeyPair(cert, garbage), func(err error) bool {
			pe, ok := errors.AsType[*KeyPairError](err)
			return ok && pe.CertErr == nil && pe.KeyErr == nil && pe.PairErr != nil
		}},
		{"key of another certificate", CheckKeyPair(cert, otherKey), func(err error) bool {
			pe, ok := errors.AsType[*KeyPairError](err)
			return ok && pe.PairErr != nil && strings.HasPrefix(err.Error(), "tls:")
		}},
	} {
		if !tc.ok(tc.err) {
			t.Errorf("%s: %v", tc.name, tc.err)
		}
		if tc.err != nil && strings.Contains(tc.err.Error(), "s3cret") {
			t.Errorf("%s: %v shows the file's content", tc.name, tc.err)
		}
	}
}
