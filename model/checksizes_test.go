package model

import (
	"strings"
	"testing"
)

// TestCheckSizes: CheckSizes refuses, before the features are known, the
// sizes New refuses for any features (with one feature, the fewest), and
// takes those it takes, zero values being the defaults.
func TestCheckSizes(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string // "": accepted
	}{
		{Config{}, ""},
		{Config{Window: 32, Horizon: 10, Hidden: 64, Layers: 2}, ""},
		{Config{Layers: 100}, "model config: layers 100: want 1..16"},
		{Config{Window: maxWindow + 1, Hidden: -1}, "model config: window 16385: want 1..16384\nhidden -1: want 1..8192"},
		{Config{Horizon: -2}, "model config: horizon -2: want ≥ 1"},
		{Config{Dropout: 1}, "model config: dropout 1: want 0 ≤ dropout < 1"},
		{Config{Hidden: maxHidden, Layers: 2}, "model config: 805421058 parameters with one feature: more than the limit 268435456"},
	} {
		err := tc.cfg.CheckSizes()
		if got := errText(err); got != tc.want {
			t.Errorf("CheckSizes(%+v) = %q, want %q", tc.cfg, got, tc.want)
		}
		// New, with one feature, agrees (its error says more).
		c := tc.cfg
		c.Features = []string{"f"}
		if tc.cfg.Hidden*tc.cfg.Layers > 64 {
			continue // valid or not, too big to allocate here
		}
		_, nerr := New(c)
		if (nerr == nil) != (err == nil) || err != nil && !strings.Contains(nerr.Error(), strings.TrimPrefix(tc.want, "model config: ")) {
			t.Errorf("New(%+v) = %v, CheckSizes %v", c, nerr, err)
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
