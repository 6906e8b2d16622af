package ui_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/api/apitest"
	"github.com/omen-sre/omen/ui"
)

// versionsBackend is the fixture with a model registry the UI can ask
// about any version (ui.ModelVersionDescriber); it counts the questions.
type versionsBackend struct {
	*api.MemBackend
	versions map[string]api.ModelInfo
	mu       sync.Mutex
	asked    map[string]int
}

var _ ui.ModelVersionDescriber = (*versionsBackend)(nil)

func (b *versionsBackend) ModelVersionInfo(_ context.Context, version string) (api.ModelInfo, error) {
	b.mu.Lock()
	b.asked[version]++
	b.mu.Unlock()
	mi, ok := b.versions[version]
	if !ok {
		return api.ModelInfo{}, fmt.Errorf("model %q: %w", version, api.ErrNotFound)
	}
	return mi, nil
}

// scoredByFixture is the fixture whose cart predictions (and their
// explanations) were scored by version, not by the active model v3.
func scoredByFixture(version string) *api.MemBackend {
	b := apitest.Backend()
	for i := range b.PredictionList {
		if b.PredictionList[i].Entity == apitest.CartEntity {
			b.PredictionList[i].ModelVersion = version
		}
	}
	for id, x := range b.Explanations {
		if x.Entity == apitest.CartEntity {
			x.ModelVersion = version
			b.Explanations[id] = x
		}
	}
	return b
}

// TestAnomalyThresholdOfScoringModel: the entity and alert pages judge an
// anomaly score against the anomaly threshold of the model version that
// scored the prediction, not the active model's (the page said "16.10
// (under the anomaly threshold 19.25 of model sim-1-…)" above "model
// v20261127T084554Z", whose threshold is 1269.77); when that version's
// threshold is not known, none is shown.
func TestAnomalyThresholdOfScoringModel(t *testing.T) {
	// The cart's anomaly score is 3 × 0.91 = 2.73; the active model v3's
	// anomaly threshold is 2.5.
	active := `of model v3)`
	pages := []string{api.EntityUIPath(apitest.CartEntity), api.AlertUIPath(apitest.FiringFingerprint)}
	cases := []struct {
		name     string
		version  string
		describe bool
		want     string
		asked    int // describer calls for version over both pages, twice
	}{
		{"scored by another registered version", "v2", true, `2.73 (under the anomaly threshold 4.00 of model v2)`, 1},
		{"scored by a deleted version", "v1", true, `2.73 (the anomaly threshold of model v1, which scored it, is not known)`, 4},
		{"no registry", "v2", false, `2.73 (the anomaly threshold of model v2, which scored it, is not known)`, 0},
		{"scored by the active version", "v3", true, `2.73 (at or over the anomaly threshold 2.50 of model v3)`, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mb := scoredByFixture(tc.version)
			var b api.Backend = mb
			vb := &versionsBackend{MemBackend: mb, asked: map[string]int{},
				versions: map[string]api.ModelInfo{"v2": {Version: "v2", Threshold: 0.4, AnomalyThreshold: 4}}}
			if tc.describe {
				b = vb
			}
			srv := newServer(t, b)
			var not []string
			if tc.version != "v3" {
				not = []string{active}
			}
			for range 2 {
				for _, p := range pages {
					pageHas(t, srv.URL, p, http.StatusOK, []string{tc.want, `<span>model</span><span>` + tc.version + `</span>`}, not)
				}
			}
			vb.mu.Lock()
			defer vb.mu.Unlock()
			if got := vb.asked[tc.version]; got != tc.asked {
				t.Errorf("version %s described %d times, want %d (a described version is kept)", tc.version, got, tc.asked)
			}
		})
	}
}
