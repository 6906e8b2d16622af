package decode

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestCacheForgetsIdle: a decoder's label caches forget the label sets of
// series that stopped (churned pods) within two CacheIdle, although they
// stay under CacheSize: after 20,000 series sent once, while 100 keep
// sending, they hold the 100. Before, the generations turned only when
// one was full (CacheSize new sets; omen sets 262,144), so the churned
// sets stayed until as many new series arrived, for good with none.
func TestCacheForgetsIdle(t *testing.T) {
	line := map[Format]func(prefix string, i int) string{
		FormatInflux:   func(p string, i int) string { return fmt.Sprintf("kube_pod_info,namespace=ns,pod=%s-%d value=1", p, i) },
		FormatPromText: func(p string, i int) string { return fmt.Sprintf(`kube_pod_info{namespace="ns",pod="%s-%d"} 1`, p, i) },
		FormatJSON: func(p string, i int) string {
			return fmt.Sprintf(`{"labels":{"__name__":"kube_pod_info","namespace":"ns","pod":"%s-%d"},"v":1}`, p, i)
		},
	}
	for _, tc := range []struct {
		f    Format
		idle time.Duration
		want int // sets cached once the churned series stopped
	}{
		{FormatInflux, 5 * time.Minute, 100},
		{FormatPromText, 5 * time.Minute, 100},
		{FormatJSON, 5 * time.Minute, 100},
		{FormatInflux, -1, 20_100}, // negative: the size bound only
		{FormatJSON, -1, 20_100},
	} {
		t.Run(fmt.Sprintf("%s/%v", tc.f, tc.idle), func(t *testing.T) {
			now := testNow
			d := newDecoder(t, Options{
				CacheIdle: tc.idle, CacheSize: 1 << 18, MaxMessageBytes: 4 << 20, MaxAge: -1, MaxFuture: -1,
				Now: func() time.Time { return now },
			})
			send := func(prefix string, n int) {
				t.Helper()
				var b strings.Builder
				for i := range n {
					b.WriteString(line[tc.f](prefix, i))
					b.WriteByte('\n')
				}
				var res Result
				if err := d.Decode(tc.f, []byte(b.String()), time.Time{}, &res); err != nil || len(res.Samples) != n {
					t.Fatalf("decode: %d samples of %d, err %v, errors %v", len(res.Samples), n, err, fmtErrors(res.Errors))
				}
			}
			send("keep", 100)
			send("churn", 20_000)
			if n := d.CachedSeries(); n != 20_100 {
				t.Fatalf("after the churn the caches hold %d sets, want 20100", n)
			}
			// The keepers send every 30s for 2×5m + 1m.
			for range (11 * time.Minute) / (30 * time.Second) {
				now = now.Add(30 * time.Second)
				send("keep", 100)
			}
			if n := d.CachedSeries(); n != tc.want {
				t.Fatalf("11m after the churned series stopped the caches hold %d sets, want %d", n, tc.want)
			}
		})
	}
}
