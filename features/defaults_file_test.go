package features

import (
	"bytes"
	"os"
	"reflect"
	"testing"

	"gopkg.in/yaml.v3"
)

// defaultFeaturesFile is the built-in feature set as YAML, for users to
// copy into their configuration and trim.
const defaultFeaturesFile = "../docs/features.default.yml"

// TestDefaultFeaturesFile: docs/features.default.yml decodes (unknown
// keys refused, as the configuration file's) into exactly DefaultConfig's
// features, event features and labels, in order, help texts included, and
// holds nothing else, so that copying it changes nothing until entries
// are deleted. A change of DefaultConfig fails this test until the file
// follows it.
func TestDefaultFeaturesFile(t *testing.T) {
	b, err := os.ReadFile(defaultFeaturesFile)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var got Config
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("%s: %v", defaultFeaturesFile, err)
	}
	def := DefaultConfig()
	if got.EntityLabels != nil || got.Step != 0 || got.Lookback != 0 || got.MaxSeries != 0 {
		t.Errorf("%s sets more than the three lists: entity_labels %v, step %v, lookback %v, max_series %d",
			defaultFeaturesFile, got.EntityLabels, got.Step, got.Lookback, got.MaxSeries)
	}
	for _, c := range []struct {
		section   string
		got, want any
		n         int
	}{
		{"features", got.Features, def.Features, len(def.Features)},
		{"event_features", got.EventFeatures, def.EventFeatures, len(def.EventFeatures)},
		{"labels", got.Labels, def.Labels, len(def.Labels)},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			gv, wv := reflect.ValueOf(c.got), reflect.ValueOf(c.want)
			if gv.Len() != c.n {
				t.Errorf("%s: %d entries, DefaultConfig has %d", c.section, gv.Len(), c.n)
				continue
			}
			for i := range c.n {
				if g, w := gv.Index(i).Interface(), wv.Index(i).Interface(); !reflect.DeepEqual(g, w) {
					t.Errorf("%s[%d]:\n got  %+v\n want %+v", c.section, i, g, w)
				}
			}
		}
	}
	got.SetDefaults()
	if err := got.Validate(); err != nil {
		t.Errorf("%s with the default entity labels, step and lookback: %v", defaultFeaturesFile, err)
	}
}
