package trainrun

import (
	"context"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/features"
	"github.com/omen-sre/omen/model"
	"github.com/omen-sre/omen/store"
	"github.com/omen-sre/omen/training"
	"github.com/omen-sre/omen/training/storesource"
)

// writeStore writes minutes of three entities' history at step to a
// store under dir, its schema recording step and no presence features
// (every vector a row), as a daemon at that step records it; 0 minutes
// write the schema only.
func writeStore(t *testing.T, dir string, step time.Duration, minutes int) {
	t.Helper()
	cfg := config.Default()
	names, labels := features.Names(cfg.Config), cfg.LabelNames()
	st, err := store.Open(store.Options{Path: filepath.Join(dir, "badger")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.PutSchemaPresence(names, labels, step, []string{}); err != nil {
		t.Fatal(err)
	}
	ms := step.Milliseconds()
	end := time.Now().UnixMilli() / ms * ms
	n := int((time.Duration(minutes) * time.Minute).Milliseconds() / ms)
	var vs []store.Vector
	for p := range 3 {
		id := fmt.Sprintf("shop/pod-%d", p)
		for i := range n {
			v := store.Vector{Entity: id, T: end - int64(n-i)*ms, Values: make([]float64, len(names)), Failure: make([]bool, len(labels))}
			for j := range v.Values {
				v.Values[j] = math.Sin(float64(i+j+p)/7) + float64(j)
			}
			v.Failure[0] = p == 0 && i%97 > 90
			vs = append(vs, v)
		}
		if n > 0 {
			if err := st.PutEntity(id, map[string]string{"namespace": "shop", "pod": fmt.Sprintf("pod-%d", p)}, end-int64(n)*ms); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := st.PutVectors(vs); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
}

// options returns Options reading the store at dir offline, with small
// model sizes, and the notices they collect.
func options(dir string) (Options, *[]string) {
	var notices []string
	return Options{
		Source: "store", StoragePath: dir, Config: config.Default(), History: 2 * time.Hour,
		OpenStore: func() (*store.Store, error) {
			return store.Open(store.Options{Path: filepath.Join(dir, "badger")})
		},
		Train:  training.TrainOptions{Window: 4, Horizon: 2, Hidden: 4, Layers: 1, Epochs: 1, Members: 1, Seed: 1},
		Notice: func(msg string) { notices = append(notices, msg) },
	}, &notices
}

// TestTrain: Train picks the source and the settings the model is for:
// offline, the step the store records (with a notice) unless a
// configuration file of another step is given (refused before
// training); options that do not go together are a UsageError; an empty
// store is the command's "no feature data" message, wrapping
// storesource.ErrNoData. Register then registers the trained model in
// the store, after the Check hook.
func TestTrain(t *testing.T) {
	for _, tc := range []struct {
		name    string
		minutes int // of history in the store
		edit    func(o *Options)
		usage   bool
		wantErr string
		wantIs  error
		notice  string
		step    time.Duration
	}{
		{name: "recorded step", minutes: 100, step: 30 * time.Second,
			notice: "the step the store records (the daemon's last), 30s, applies; "},
		{name: "config of another step", minutes: 100, edit: func(o *Options) { o.ConfigFile = "omen.yml" },
			wantErr: "the store's history is at a step of 30s (the daemon's last, which its schema records), not the 15s of omen.yml"},
		{name: "no data", minutes: 0, wantIs: storesource.ErrNoData,
			wantErr: "no feature data in DIR between "},
		{name: "csv without dir", edit: func(o *Options) { o.Source = "csv" }, usage: true, wantErr: "--source csv needs --dir"},
		{name: "prometheus without url", edit: func(o *Options) { o.Source = "prometheus" }, usage: true,
			wantErr: "--source prometheus needs --prometheus.url"},
		{name: "unknown source", edit: func(o *Options) { o.Source = "s3" }, usage: true,
			wantErr: `unknown --source "s3" (want csv, store or prometheus)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeStore(t, dir, 30*time.Second, tc.minutes)
			o, notices := options(dir)
			if tc.edit != nil {
				tc.edit(&o)
			}
			res, err := Train(context.Background(), o)
			if tc.wantErr != "" {
				var usage *UsageError
				want := strings.ReplaceAll(tc.wantErr, "DIR", dir)
				if err == nil || !strings.Contains(err.Error(), want) || errors.As(err, &usage) != tc.usage ||
					(tc.wantIs != nil && !errors.Is(err, tc.wantIs)) {
					t.Fatalf("Train error = %v (%T), want %q (usage %v, is %v)", err, err, want, tc.usage, tc.wantIs)
				}
				// The store Train opened is closed: it opens again.
				st, err := store.Open(store.Options{Path: filepath.Join(dir, "badger")})
				if err != nil {
					t.Fatalf("store left open: %v", err)
				}
				_ = st.Close()
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = res.Close() })
			if res.Step != tc.step || res.Model.Config().Step != tc.step {
				t.Errorf("step %v, model's %v, want %v", res.Step, res.Model.Config().Step, tc.step)
			}
			if !strings.Contains(strings.Join(*notices, "\n"), tc.notice) {
				t.Errorf("notices %q, want %q", *notices, tc.notice)
			}
			if res.Report.Entities != 3 || res.Where != dir {
				t.Errorf("report %d entities, where %q", res.Report.Entities, res.Where)
			}
			data, err := res.Model.MarshalBinary()
			if err != nil {
				t.Fatal(err)
			}
			checked := false
			v, err := res.Register(context.Background(), data, RegisterOptions{Promote: true, Out: "m.omen",
				Check: func(st *store.Store, m *model.Model) error {
					checked = st != nil && m == res.Model
					return nil
				}})
			if err != nil || !checked || !v.Active || v.Version != res.Model.Meta().Version {
				t.Fatalf("Register = %+v, %v (checked %v)", v, err, checked)
			}
			// A Check error refuses the model.
			_, err = res.Register(context.Background(), data, RegisterOptions{Out: "m.omen",
				Check: func(*store.Store, *model.Model) error { return errors.New("does not fit") }})
			if err == nil || err.Error() != "does not fit" {
				t.Errorf("Register with a failing Check = %v", err)
			}
		})
	}
}
