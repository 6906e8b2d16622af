package sim

import (
	"testing"
	"time"
)

// BenchmarkOneDay generates one simulated day of a 58-pod fleet with a full
// schedule per iteration (docs/PERFORMANCE.md, "Simulator": a few seconds on
// the 2-core machine). A benchmark, not a timed test: CI runs it once (-benchtime 1x)
// so it cannot rot, and a loaded machine cannot fail it.
func BenchmarkOneDay(b *testing.B) {
	svcs := ScaleReplicas(DefaultServices(), 2)
	specs, err := Schedule(1, 24*time.Hour, ScheduleOptions{Services: svcs})
	if err != nil {
		b.Fatal(err)
	}
	samples := 0
	for b.Loop() {
		f := newFleet(b, Options{Seed: 1, Services: svcs, Scenarios: specs})
		n := 0
		for range int(24 * time.Hour / DefaultStep) {
			n += len(f.Advance().Samples)
		}
		if n == 0 {
			b.Fatal("one simulated day produced no samples")
		}
		samples += n
	}
	b.ReportMetric(float64(samples)/b.Elapsed().Seconds(), "samples/s")
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
