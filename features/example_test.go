package features_test

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"

	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/telemetry"
)

// A Head holds the samples, an Extractor evaluates the features over it at
// a step time.
func Example() {
	head, err := features.NewHead(features.HeadOptions{Lookback: 15 * time.Minute})
	if err != nil {
		fmt.Println(err)
		return
	}
	ex, err := features.NewExtractor(features.ExtractorOptions{
		Head: head,
		Config: features.Config{
			Features: []features.Feature{
				{Name: "restarts_10m", Expr: `sum by (${entity}) (increase(kube_pod_container_status_restarts_total[10m]))`},
			},
			EventFeatures: []features.EventFeature{
				{Name: "backoff", Reasons: []string{"BackOff"}, Window: model.Duration(10 * time.Minute)},
			},
			Labels: []features.LabelDef{{Name: "crashloop", Reasons: []string{"CrashLoopBackOff"}}},
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC).UnixMilli()
	lset := labels.FromStrings("__name__", "kube_pod_container_status_restarts_total",
		"namespace", "shop", "pod", "api-0", "container", "app")
	var samples []telemetry.Sample
	for k := range 41 { // 10m at 15s, one restart every 2m30s
		samples = append(samples, telemetry.Sample{Labels: lset, T: start + int64(k)*15_000, V: float64(k / 10)})
	}
	if _, err := head.Append(samples); err != nil {
		fmt.Println(err)
		return
	}
	at := start + 10*60_000
	ex.AddEvents([]telemetry.Event{{
		T: at - 5_000, Source: telemetry.SourceKubernetes, Reason: "CrashLoopBackOff", Count: 1,
		Labels: labels.FromStrings("namespace", "shop", "pod", "api-0"),
	}})
	vs, err := ex.Evaluate(context.Background(), time.UnixMilli(at))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ex.FeatureNames(), ex.LabelNames())
	for _, v := range vs {
		fmt.Println(v.Entity, v.Values, v.Failure)
	}
	// Output:
	// [restarts_10m backoff] [crashloop]
	// shop/api-0 [4 0] [true]
}
