package config

import (
	"strings"
	"testing"
)

// TestLoadMergedKeyPlaced: a key that reaches its field only through a
// "<<" merge or an alias is seen as given, and a Load check's or
// Validate's error about it is placed at the key as written (in the
// merged mapping, or under the anchor), as yaml.v3 decodes it: a
// mapping's own keys win over merged ones, and a merge sequence's first
// mapping over the next. Before, an empty prometheus[].name given only by
// a merge passed the empty-name check, and errors on merged keys were
// placed at the enclosing mapping.
func TestLoadMergedKeyPlaced(t *testing.T) {
	for _, tc := range []struct {
		name, yml string
		want      []string // the error's lines; none: no error
	}{
		{name: "empty name merged",
			yml:  "prometheus:\n  - url: http://p:9090\n    <<: {name: \"\"}\n",
			want: []string{"x.yml:3:16: prometheus[0].name is empty: name the poller or remove the key"}},
		{name: "empty name merged from an anchor",
			yml:  "prometheus:\n  - &a {url: \"http://p:9090\", name: x}\n  - <<: *a\n    url: http://q:9090\n    name: \"\"\n",
			want: []string{"x.yml:5:11: prometheus[1].name is empty: name the poller or remove the key"}},
		{name: "no name, url merged",
			yml: "prometheus:\n  - <<: {url: \"http://p:9090\"}\n"},
		{name: "bad name merged",
			yml:  "prometheus:\n  - url: http://p:9090\n    <<: {name: team a}\n",
			want: []string{`x.yml:3:16: prometheus[0].name "team a": use only letters, digits, '_', '.', ':' and '-'`}},
		{name: "duplicate name merged from an anchor",
			yml:  "prometheus:\n  - &a {url: \"http://p:9090\", name: a}\n  - <<: *a\n    url: http://q:9090\n",
			want: []string{`x.yml:2:37: prometheus[1].name "a" is prometheus[0].name too: give each poller its own`}},
		{name: "bad url merged",
			yml:  "prometheus:\n  - <<: {url: \"ftp://p\"}\n",
			want: []string{`x.yml:2:15: invalid URL "ftp://p": scheme must be http or https`}},
		{name: "alerting key merged",
			yml:  "alerting:\n  <<: {for: -1}\n",
			want: []string{"x.yml:2:13: alerting.for must be at least 1 step, got -1"}},
		{name: "own key wins over merged",
			yml:  "alerting:\n  <<: {for: 3}\n  for: -1\n",
			want: []string{"x.yml:3:8: alerting.for must be at least 1 step, got -1"}},
		{name: "own key before the merge wins",
			yml:  "alerting:\n  for: -1\n  <<: {for: 3}\n",
			want: []string{"x.yml:2:8: alerting.for must be at least 1 step, got -1"}},
		{name: "merge sequence, first wins",
			yml:  "alerting:\n  <<: [{resolve_ratio: 2}, {resolve_ratio: 3}]\n",
			want: []string{"x.yml:2:24: alerting.resolve_ratio must be in (0, 1], got 2"}},
		{name: "merge in a merge",
			yml:  "nats:\n  <<: {<<: {max_bytes: -2}}\n",
			want: []string{"x.yml:2:24: nats.max_bytes must be positive or -1 (no bound), got -2"}},
		{name: "mapping alias",
			yml: "nats: &l {max_labels: -1}\nremote_write: *l\n",
			want: []string{
				"x.yml:1:23: nats.max_labels must not be negative, got -1",
				"x.yml:1:23: remote_write.max_labels must not be negative, got -1"}},
		{name: "top-level merge",
			yml:  "<<: {step: 2m}\nlookback: 1m\n",
			want: []string{"x.yml:1:12: step: must be shorter than lookback 1m0s, got 2m0s"}},
		// Validate's errors (features.FieldError) are placed the same way.
		{name: "feature name merged",
			yml:  "features:\n  - <<: {name: 1bad}\n    expr: up\n",
			want: []string{`x.yml:2:16: features[0].name: feature "1bad": name must match`}},
		{name: "event feature reasons merged",
			yml:  "event_features:\n  - name: a\n    <<: {reasons: [\"\"]}\n",
			want: []string{`x.yml:3:19: event_features[0].reasons: event feature "a": empty reason`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load("x.yml", []byte(tc.yml))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Load = %v, want no error", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Load succeeded, want %q", tc.want)
			}
			got := strings.Split(err.Error(), "\n")
			if len(got) != len(tc.want) {
				t.Fatalf("Load error:\n%v\nwant lines starting:\n%s", err, strings.Join(tc.want, "\n"))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.want[i]) {
					t.Fatalf("Load error:\n%v\nwant lines starting:\n%s", err, strings.Join(tc.want, "\n"))
				}
			}
		})
	}
}
