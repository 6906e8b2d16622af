package api_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/omen-sre/omen/api"
	"github.com/omen-sre/omen/api/apitest"
)

func TestClientExplain(t *testing.T) {
	srv := newServer(t, apitest.Backend(), api.Options{Token: "tok", ListenAddress: "0.0.0.0:1"})
	ctx := context.Background()
	c := &api.Client{URL: srv.URL, Token: "tok"}
	cases := []struct {
		name, arg, entity, fingerprint string
		top                            int
	}{
		{"table_alert", apitest.FiringFingerprint, apitest.CartEntity, apitest.FiringFingerprint, 5},
		{"table_prediction", "infra/db-0@1764000000000", "infra/db-0", "", 0},
		{"table_entity", "shop/checkout-5c6d7e8f9-q8w7e", "shop/checkout-5c6d7e8f9-q8w7e", "", 3},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x, raw, err := c.Explain(ctx, tc.arg)
			if err != nil {
				t.Fatal(err)
			}
			if x.Entity != tc.entity || x.AlertFingerprint != tc.fingerprint || len(raw) == 0 {
				t.Fatalf("explained %q as entity %q alert %q", tc.arg, x.Entity, x.AlertFingerprint)
			}
			var b bytes.Buffer
			if err := api.WriteTable(&b, x, tc.top); err != nil {
				t.Fatal(err)
			}
			golden(t, tc.name, b.Bytes())
			rows := 0
			for _, l := range strings.Split(b.String(), "\n") {
				if strings.Contains(l, "%  ") {
					rows++
				}
			}
			want := tc.top
			if want == 0 {
				want = len(x.Attribution.Groups)
			}
			if rows != want {
				t.Errorf("%d group rows, want %d:\n%s", rows, want, b.String())
			}
		})
	}
	if _, _, err := c.Explain(ctx, "no-such-thing"); !errors.Is(err, api.ErrNotFound) {
		t.Errorf("unknown argument: %v, want ErrNotFound", err)
	}
	bad := &api.Client{URL: srv.URL, Token: "wrong"}
	var e *api.Error
	if _, _, err := bad.Explain(ctx, apitest.FiringFingerprint); !errors.As(err, &e) || e.StatusCode != 401 {
		t.Errorf("wrong token: %v, want a 401 error", err)
	}
}
