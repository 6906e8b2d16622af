package alert

import (
	"strings"
	"testing"
)

func TestRemediationPick(t *testing.T) {
	r, err := newRemedies([]Remediation{
		{Cause: "FailedMount", Action: "Page the storage team.", RunbookURL: "https://runbooks.example/storage"},
		{Cause: "cpu_usage_ratio", Action: "Custom CPU action."},
	}, "https://omen.example/docs/runbooks/")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		causes     []Cause
		wantAction string // substring
		wantURL    string
	}{
		{"cpu", []Cause{{Name: "container_cpu_utilisation", Kind: "metric"}}, "delay the rollout", "https://omen.example/docs/runbooks/cpu-saturation"},
		{"configured overrides default", []Cause{{Name: "cpu_usage_ratio", Kind: "metric"}}, "Custom CPU action.", ""},
		{"cross-zone latency", []Cause{{Name: "cross_zone_latency_ms", Kind: "metric"}}, "pause scaling", "https://omen.example/docs/runbooks/cross-zone-latency"},
		{"cache", []Cause{{Name: "cache_hit_ratio", Kind: "metric"}}, "warm up", "https://omen.example/docs/runbooks/cache-warmup"},
		{"image change", []Cause{{Name: "image_changed", Kind: "event"}}, "roll back", "https://omen.example/docs/runbooks/rollback"},
		{"dependency", []Cause{{Name: "payments", Kind: "dependency"}}, "roll back", "https://omen.example/docs/runbooks/dependency"},
		{"mount latency", []Cause{{Name: "volume_mount_latency_seconds", Kind: "metric"}}, "volume provisioner", "https://omen.example/docs/runbooks/volume-provisioner"},
		{"configured event reason, any case", []Cause{{Name: "failedmount", Kind: "event"}}, "storage team", "https://runbooks.example/storage"},
		{"OOM event", []Cause{{Name: "OOMKilled", Kind: "event"}}, "memory limit", "https://omen.example/docs/runbooks/memory"},
		{"memory", []Cause{{Name: "memory_working_set_ratio", Kind: "metric"}}, "memory limit", "https://omen.example/docs/runbooks/memory"},
		{"config propagation", []Cause{{Name: "config_propagation_seconds", Kind: "metric"}}, "config store", "https://omen.example/docs/runbooks/config-propagation"},
		{"the top cause wins", []Cause{{Name: "cache_hit_ratio", Kind: "metric"}, {Name: "OOMKilled", Kind: "event"}}, "warm up", "https://omen.example/docs/runbooks/cache-warmup"},
		{"unmatched top cause falls through", []Cause{{Name: "restarts", Kind: "metric"}, {Name: "OOMKilled", Kind: "event"}}, "memory limit", "https://omen.example/docs/runbooks/memory"},
		{"nothing matches", []Cause{{Name: "restarts", Kind: "metric"}}, "Inspect the top causes", "https://omen.example/docs/runbooks/module-load-failure"},
		{"no causes", nil, "Inspect the top causes", "https://omen.example/docs/runbooks/module-load-failure"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			action, rb := r.pick(tc.causes)
			url := r.url(rb)
			if !strings.Contains(action, tc.wantAction) || url != tc.wantURL {
				t.Errorf("pick = %q, %q; want action containing %q, runbook %q", action, url, tc.wantAction, tc.wantURL)
			}
		})
	}
}

func TestFormatting(t *testing.T) {
	tests := []struct{ got, want string }{
		{formatDuration(15 * 60e9), "15m"},
		{formatDuration(90 * 60e9), "1h30m"},
		{formatDuration(2 * 3600e9), "2h"},
		{formatDuration(45e9), "45s"},
		{formatDuration(0), ""},
		{formatCauses([]Cause{{Name: "a", Kind: "metric", Share: 0.615}, {Name: "BackOff", Kind: "event", Share: 0.2}}), "a 62%, BackOff (event) 20%"},
		{formatCauses(nil), ""},
		{percent(0.705), "70%"},
	}
	for i, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%d: %q, want %q", i, tc.got, tc.want)
		}
	}
}
