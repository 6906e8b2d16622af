package app

import (
	"errors"
	"fmt"

	"github.com/omen-sre/omen/config"
)

// reloadRequest asks the reload loop to apply the configuration file, or
// cfg when not nil, answering on done.
type reloadRequest struct {
	cfg  *config.Config
	op   string
	done chan error
}

// Apply applies cfg as Reload applies the configuration file, with the
// same checks, all or nothing (a change of entity_labels, step or
// lookback is refused), for a daemon that has no file or whose caller
// derives the configuration: omen demo sets alerting.critical_probability
// from the model it trained. A later Reload reads the file again. It is
// for a started App; the caller must not modify cfg afterwards.
func (a *App) Apply(cfg *config.Config) error {
	if cfg == nil {
		return errors.New("apply configuration: nil")
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("apply configuration: %w", err)
	}
	return a.requestReload(cfg, "apply configuration")
}

// requestReload hands cfg (nil: the configuration file) to the reload
// loop and returns its answer; op names the call in the error of an App
// that is not running (ErrNotRunning): before Start, after a failed
// Start, and as soon as the run context ends (Stop, a fatal error).
func (a *App) requestReload(cfg *config.Config, op string) error {
	if !a.running.Load() {
		return errNotStarted(op)
	}
	ch := make(chan error, 1)
	select {
	case a.reloadCh <- reloadRequest{cfg: cfg, op: op, done: ch}:
		return <-ch
	case <-a.reloadStopped:
		return fmt.Errorf("%s: %w: stopping", op, ErrNotRunning)
	}
}
