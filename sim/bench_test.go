package sim

import (
	"testing"
	"time"
)

// TestOneDayFast generates one simulated day of a 58-pod fleet with a full
// schedule and checks it takes well under 10 s.
func TestOneDayFast(t *testing.T) {
	svcs := ScaleReplicas(DefaultServices(), 2)
	specs, err := Schedule(1, 24*time.Hour, ScheduleOptions{Services: svcs})
	if err != nil {
		t.Fatal(err)
	}
	f := newFleet(t, Options{Seed: 1, Services: svcs, Scenarios: specs})
	start := time.Now()
	samples := 0
	for range int(24 * time.Hour / DefaultStep) {
		samples += len(f.Advance().Samples)
	}
	d := time.Since(start)
	t.Logf("1 simulated day, %d pods: %d samples in %v (%.1f M samples/s)", len(f.Pods()), samples, d, float64(samples)/d.Seconds()/1e6)
	if d > 5*time.Second {
		t.Errorf("one simulated day took %v, want well under 10s", d)
	}
}

// BenchmarkAdvance measures one step of the default 29-pod fleet.
func BenchmarkAdvance(b *testing.B) {
	f := newFleet(b, Options{Seed: 1})
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n += len(f.Advance().Samples)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "samples/s")
}

// BenchmarkPayloads measures encoding one tick for NATS.
func BenchmarkPayloads(b *testing.B) {
	for _, format := range []Format{FormatInflux, FormatProm} {
		b.Run(string(format), func(b *testing.B) {
			f := newFleet(b, Options{Seed: 1})
			tk := f.Advance()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tk.Payloads(format, "", ""); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(tk.Samples))*float64(b.N)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}
