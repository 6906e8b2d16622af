package sim

import (
	"github.com/omen-sre/omen/features"
)

// FeatureConfig returns features.DefaultConfig extended with the PromQL
// features that carry precursors the default set lacks: config propagation
// delay, connection pool usage, dependency 404 ratio and volume mount
// latency (those the defaults already have are not added twice). It is what omen demo and omen eval sim use; every Truth.Cause is
// one of its feature names.
func FeatureConfig() features.Config {
	cfg := features.DefaultConfig()
	extra := []features.Feature{
		{
			Name: FeatureConfigDelay,
			Expr: `max by (${entity}) (config_propagation_delay_seconds)`,
			Help: "Lag of the pod's config watch behind the config store.",
		},
		{
			Name: FeatureConnectionPool,
			Expr: `max by (${entity}) (connection_pool_active_connections / (connection_pool_max_connections > 0))`,
			Help: "Largest fraction of an upstream connection pool in use.",
		},
		{
			Name: FeatureDependencyNotFound,
			Expr: `max by (${entity}) (sum by (${entity}, dependency) (rate(http_client_requests_total{code="404"}[2m])) / (sum by (${entity}, dependency) (rate(http_client_requests_total[2m])) > 0))`,
			Help: "Largest fraction of one dependency's calls answered 404 (incompatible API) over 2 minutes.",
		},
		{
			Name: FeatureMountLatency,
			Expr: `max by (${entity}) (rate(storage_operation_duration_seconds_sum{operation_name="volume_mount"}[2m]) / (rate(storage_operation_duration_seconds_count{operation_name="volume_mount"}[2m]) > 0))`,
			Help: "Mean duration of the kubelet's volume mounts over 2 minutes.",
		},
	}
	have := map[string]bool{}
	for _, f := range cfg.Features {
		have[f.Name] = true
	}
	for _, f := range extra {
		if !have[f.Name] { // the defaults may have grown one
			cfg.Features = append(cfg.Features, f)
		}
	}
	return cfg
}
