package trainrun

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/training"
)

// TestTrainCSVColumns: the csv source's model is for the features of
// --config.file, the files' columns read into them by name (another
// order, a column beyond them: a warning naming it), and a file lacking
// one is refused before training; without it, columns that are the
// built-in features in another order are read in theirs. Before, the
// columns trained as they were, and the model did not fit the
// configuration (omen model add refused it: "order differs"; reviewer's
// finding).
func TestTrainCSVColumns(t *testing.T) {
	defaults := config.Default().FeatureNames()
	reversed := slices.Clone(defaults)
	slices.Reverse(reversed)
	for _, tc := range []struct {
		name    string
		columns []string
		config  []string // features of omen.yml; nil: no --config.file
		want    []string // the model's features
		notice  string
		err     string
	}{
		{name: "config's features reordered", columns: []string{"c", "a", "b"}, config: []string{"a", "b"}, want: []string{"a", "b"},
			notice: `warning: 1 column is not a feature of omen.yml, not read: "c" (DIR/e.csv)`},
		{name: "config's feature missing", columns: []string{"a", "c"}, config: []string{"a", "b"},
			err: `load training history: csv source: DIR/e.csv lacks column "b", features of omen.yml (its feature columns: a, c): the model is for them (nothing trained)`},
		{name: "built-in features in another order", columns: reversed, want: defaults,
			notice: "the feature columns of DIR/e.csv are those of the built-in configuration in another order: read in its order"},
		{name: "other columns without a config", columns: []string{"b", "a"}, want: []string{"b", "a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			var b strings.Builder
			b.WriteString("t," + strings.Join(tc.columns, ",") + ",label\n")
			for i := range 400 {
				fmt.Fprintf(&b, "%d", i)
				for j := range tc.columns {
					fmt.Fprintf(&b, ",%g", math.Sin(float64(i+j)/5))
				}
				fmt.Fprintf(&b, ",%d\n", min(1, i%50/45))
			}
			if err := os.WriteFile(filepath.Join(dir, "e.csv"), []byte(b.String()), 0o600); err != nil {
				t.Fatal(err)
			}
			var notices []string
			o := Options{Source: "csv", Dir: filepath.Join(dir, "e.csv"), Config: config.Default(),
				Train:  training.TrainOptions{Window: 4, Horizon: 2, Hidden: 2, Layers: 1, Epochs: 1, Members: 1, Seed: 1},
				Notice: func(msg string) { notices = append(notices, strings.ReplaceAll(msg, dir, "DIR")) }}
			if tc.config != nil {
				var y strings.Builder
				y.WriteString("features:\n")
				for _, f := range tc.config {
					fmt.Fprintf(&y, "  - {name: %s, expr: 'sum by (namespace, pod) (up)'}\n", f)
				}
				file := filepath.Join(t.TempDir(), "omen.yml")
				if err := os.WriteFile(file, []byte(y.String()), 0o600); err != nil {
					t.Fatal(err)
				}
				cfg, err := config.LoadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				o.Config, o.ConfigFile = cfg, "omen.yml"
			}
			res, err := Train(t.Context(), o)
			if tc.err != "" {
				if err == nil || strings.ReplaceAll(err.Error(), dir, "DIR") != tc.err {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = res.Close() })
			if got := res.Model.Config().Features; !slices.Equal(got, tc.want) {
				t.Errorf("model features %q, want %q", got, tc.want)
			}
			if tc.notice == "" && len(notices) > 0 || !slices.Contains(notices, tc.notice) && tc.notice != "" {
				t.Errorf("notices %q, want %q", notices, tc.notice)
			}
		})
	}
}
