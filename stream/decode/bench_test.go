package decode

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// benchInflux is a Telegraf-like payload: 1000 lines over 500 series
// (pods × containers with 6 tags), two numeric fields per line → 2000
// samples.
func benchInflux() ([]byte, int) {
	var b strings.Builder
	for i := 0; i < 1000; i++ {
		s := i % 500
		fmt.Fprintf(&b, "kubernetes_pod_container,container_name=c%d,host=node-%d,namespace=ns-%d,node_name=node-%d,pod_name=pod-%d-7d9f8b6c5-x2x9k,state=running restarts_total=%di,memory_usage_bytes=%d.%d 1700000000%09d\n",
			s%3, s%20, s%7, s%20, s, i%17, 104857600+i, i%10, i)
	}
	return []byte(b.String()), 2000
}

func benchPromText() ([]byte, int) {
	var b strings.Builder
	b.WriteString("# HELP kube_pod_container_status_restarts_total The number of container restarts per container.\n# TYPE kube_pod_container_status_restarts_total counter\n")
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&b, "kube_pod_container_status_restarts_total{namespace=\"ns-%d\",pod=\"pod-%d-7d9f8b6c5-x2x9k\",uid=\"5f0c6c1e-0d2a-4b9e-9c5a-%012d\",container=\"c%d\"} %d\n", i%7, i, i, i%3, i%17)
	}
	return []byte(b.String()), 1000
}

func benchJSON() ([]byte, int) {
	var b strings.Builder
	b.WriteString(`{"samples":[`)
	for i := 0; i < 1000; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"labels":{"__name__":"module_load_errors_total","namespace":"ns-%d","pod":"pod-%d","container":"c%d"},"t":%d,"v":%d.5}`, i%7, i, i%3, 1700000000000+i, i)
	}
	b.WriteString(`]}`)
	return []byte(b.String()), 1000
}

func benchDecode(b *testing.B, f Format, payload []byte, perPayload int) {
	d := newDecoder(b, Options{})
	var res Result
	if err := d.Decode(f, payload, testRecv, &res); err != nil || len(res.Samples) != perPayload || len(res.Errors) != 0 {
		b.Fatalf("warm-up: %v, %d samples, %v", err, len(res.Samples), res.Errors)
	}
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu := time.Now(), processCPU()
	for i := 0; i < b.N; i++ {
		res.Reset()
		if err := d.Decode(f, payload, testRecv, &res); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*perPayload)/time.Since(start).Seconds(), "samples/s")
	if used := processCPU() - cpu; used > 0 {
		// Throughput per CPU-second of this process (includes GC).
		b.ReportMetric(float64(b.N*perPayload)/used.Seconds(), "samples/cpu-s")
	}
}

func BenchmarkInflux(b *testing.B) {
	payload, n := benchInflux()
	benchDecode(b, FormatInflux, payload, n)
}

func BenchmarkPromText(b *testing.B) {
	payload, n := benchPromText()
	benchDecode(b, FormatPromText, payload, n)
}

func BenchmarkJSONSamples(b *testing.B) {
	payload, n := benchJSON()
	benchDecode(b, FormatJSON, payload, n)
}

// benchInfluxFleet is the shape "omen bench ingest" publishes: 10,000 pods,
// one Telegraf cAdvisor line of 10 fields each (100,000 series), in
// payloads of 500 lines.
func benchInfluxFleet() ([][]byte, int) {
	var out [][]byte
	var b strings.Builder
	for p := 0; p < 10000; p++ {
		fmt.Fprintf(&b, "container,namespace=ns%d,pod=pod-%d,container=app cpu_usage_seconds_total=%d.5,cpu_cfs_periods_total=%d,cpu_cfs_throttled_periods_total=%d,memory_working_set_bytes=%d,spec_memory_limit_bytes=536870912,oom_events_total=0,fs_reads_total=%d,fs_writes_total=%d,network_receive_bytes_total=%d,network_transmit_bytes_total=%d 1700000000%09d\n",
			p%50, p, p, p*150, p%10, 200e6+p, p*10, p*7, p*4096, p*2048, p)
		if (p+1)%500 == 0 {
			out = append(out, []byte(b.String()))
			b.Reset()
		}
	}
	return out, 5000
}

// BenchmarkInfluxFleet decodes 100,000 series in turn, so the series
// cache is as large as in the daemon (cache misses included).
func BenchmarkInfluxFleet(b *testing.B) {
	payloads, per := benchInfluxFleet()
	d := newDecoder(b, Options{CacheSize: 1 << 18})
	var res Result
	for _, p := range payloads {
		res.Reset()
		if err := d.Decode(FormatInflux, p, testRecv, &res); err != nil || len(res.Samples) != per {
			b.Fatalf("warm-up: %v, %d samples, %v", err, len(res.Samples), res.Errors)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu := time.Now(), processCPU()
	for i := 0; i < b.N; i++ {
		res.Reset()
		if err := d.Decode(FormatInflux, payloads[i%len(payloads)], testRecv, &res); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*per)/time.Since(start).Seconds(), "samples/s")
	if used := processCPU() - cpu; used > 0 {
		b.ReportMetric(float64(b.N*per)/used.Seconds(), "samples/cpu-s")
	}
}

// BenchmarkInfluxFleetCold decodes the 100,000 series with a fresh
// decoder each time: the cost of interning new series.
func BenchmarkInfluxFleetCold(b *testing.B) {
	payloads, per := benchInfluxFleet()
	var res Result
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu := time.Now(), processCPU()
	for i := 0; i < b.N; i++ {
		d := newDecoder(b, Options{CacheSize: 1 << 18})
		for _, p := range payloads {
			res.Reset()
			if err := d.Decode(FormatInflux, p, testRecv, &res); err != nil {
				b.Fatal(err)
			}
		}
	}
	n := b.N * per * len(payloads)
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "series/s")
	if used := processCPU() - cpu; used > 0 {
		b.ReportMetric(float64(n)/used.Seconds(), "series/cpu-s")
	}
}
