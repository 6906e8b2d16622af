package app

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/store"
)

type alerterOptions struct {
	Store         *store.Store
	Config        *config.Config
	ExtraURLs     []string
	ListenAddress string
	Registerer    prometheus.Registerer
	Logger        *slog.Logger
}
type alerter struct{}

func newAlerter(alerterOptions) (*alerter, error)               { return &alerter{}, nil }
func (a *alerter) process(context.Context, int64, []prediction) {}
func (a *alerter) run(ctx context.Context) error                { <-ctx.Done(); return nil }
func (a *alerter) close()                                       {}
func (a *alerter) setConfig(*config.Config)                     {}
