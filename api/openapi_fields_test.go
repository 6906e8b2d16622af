package api

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/omen-sre/omen/explain"
)

// TestOpenAPISchemasMatchTypes: every JSON field of the API's response
// types is documented in its schema, and the schema documents no field the
// type does not have (a field added to a type, such as Explanation.Error,
// must be added to openapi.json too).
func TestOpenAPISchemasMatchTypes(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]json.RawMessage `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	cases := []struct {
		schema string
		typ    any
	}{
		{"Prediction", Prediction{}},
		{"Alert", Alert{}},
		{"Explanation", Explanation{}},
		{"Links", Links{}},
		{"MetricCause", MetricCause{}},
		{"EntityCause", EntityCause{}},
		{"Attribution", explain.Attribution{}},
		{"GroupAttribution", explain.GroupAttribution{}},
		{"ModelInfo", ModelInfo{}},
		{"Neighbourhood", Neighbourhood{}},
		{"Node", Node{}},
		{"ModelVersion", ModelVersion{}},
		{"HistoryEntity", HistoryEntity{}},
		{"HistorySchema", historySchema{}},
		{"HistorySettings", HistorySettings{}},
	}
	for _, tc := range cases {
		t.Run(tc.schema, func(t *testing.T) {
			s, ok := doc.Components.Schemas[tc.schema]
			if !ok {
				t.Fatalf("no schema %s", tc.schema)
			}
			fields := jsonFields(reflect.TypeOf(tc.typ))
			var missing, extra []string
			for f := range fields {
				if _, ok := s.Properties[f]; !ok {
					missing = append(missing, f)
				}
			}
			for p := range s.Properties {
				if !fields[p] {
					extra = append(extra, p)
				}
			}
			sort.Strings(missing)
			sort.Strings(extra)
			if len(missing) > 0 || len(extra) > 0 {
				t.Errorf("fields of %T not in the schema: %v; schema properties not in the type: %v", tc.typ, missing, extra)
			}
		})
	}
}

// jsonFields are the JSON names of a struct's encoded fields (embedded
// structs' included).
func jsonFields(rt reflect.Type) map[string]bool {
	out := map[string]bool{}
	for i := range rt.NumField() {
		f := rt.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			for k := range jsonFields(f.Type) {
				out[k] = true
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = true
	}
	return out
}
