package app

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/omen-sre/omen/alert"
	"github.com/omen-sre/omen/config"
	"github.com/omen-sre/omen/internal/redact"
	"github.com/omen-sre/omen/model"
	"github.com/omen-sre/omen/stream/decode"
)

// CheckConfig returns the errors starting the daemon with cfg, a
// configuration config.Load or config.Validate accepted, would give from
// the configuration alone: the Prometheus pollers' queries (CheckPollers),
// the NATS decoders' options as the consumer builds them (the nats keys
// with the ingest time window), the remediations the alert pipeline
// refuses (checkRemediations) and the prometheus and alertmanager
// entries' tls_config, basic_auth and authorization keys
// (checkHTTPClients). omen run (App.Start), a reload
// (App.Reload, App.Apply) and omen check config all run it, so that a file
// one accepts the others accept too. A reload refuses a file it fails
// even when the section at fault is one the running daemon applies only
// at restart (prometheus, ingest): the next start would fail on it.
//
// Checked elsewhere, as they depend on more than the file:
//   - model.file is read at start only when the store has no active model
//     that fits the features: a reload refuses a model.file that does not
//     load when the store has no such model (checkModelFile), and warns
//     otherwise; omen check config, which does not see the store, warns.
//   - the files of the prometheus and alertmanager entries' tls_config,
//     basic_auth and authorization are read by omen run and a reload,
//     which refuse files that do not read or parse, and by omen check
//     config, which warns (CheckConnectionFiles); the servers'
//     certificates and whether they take the credentials only when omen
//     run connects.
//   - the alerting section is checked by the alert pipeline too, at
//     start (alert.New) and at reload (alerter.checkConfig), which refuse
//     the remediations checkRemediations refuses (a start builds the
//     alert pipeline before it runs CheckConfig, and says so in the
//     pipeline's words).
//   - a reload refuses changes of entity_labels, step and lookback
//     (checkRestartNeeded), which a start accepts, and the running
//     Prometheus pollers refuse a configuration without queries even when
//     it drops the prometheus section (sources.check).
//   - the token and TLS files, the listen addresses, the store (its lock,
//     free disk space), the NATS server and its streams, and the
//     Prometheus servers are checked by omen run only, against the
//     environment.
func CheckConfig(cfg *config.Config) error {
	var errs []error
	if err := CheckPollers(cfg); err != nil {
		errs = append(errs, err)
	}
	if err := checkNATSDecode(cfg); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, checkRemediations(cfg)...)
	errs = append(errs, checkHTTPClients(cfg)...)
	return errors.Join(errs...)
}

// clientEntry is a prometheus or alerting.alertmanagers entry's client
// settings, with its key (prometheus[0]) and URL.
type clientEntry struct {
	key, url string
	h        config.HTTPClientConfig
}

// clientEntries returns cfg's alerting.alertmanagers entries, after its
// prometheus ones when prometheus is true (a reload does not apply those).
func clientEntries(cfg *config.Config, prometheus bool) []clientEntry {
	var out []clientEntry
	if prometheus {
		for i, p := range cfg.Prometheus {
			out = append(out, clientEntry{fmt.Sprintf("prometheus[%d]", i), p.URL, p.HTTPClientConfig})
		}
	}
	for i, am := range cfg.Alerting.Alertmanagers {
		out = append(out, clientEntry{fmt.Sprintf("alerting.alertmanagers[%d]", i), am.URL, am.HTTPClientConfig})
	}
	return out
}

// checkHTTPClients returns the errors of the prometheus and
// alerting.alertmanagers entries' tls_config, basic_auth and
// authorization keys (config.HTTPClientConfig.Check: keys given together
// or alone), which config.Load refuses in a file: a configuration given
// to App.Apply is checked here. Their files are checked apart
// (CheckConnectionFiles).
func checkHTTPClients(cfg *config.Config) []error {
	var errs []error
	for _, e := range clientEntries(cfg, true) {
		if err := e.h.Check(e.key, e.url); err != nil {
			errs = append(errs, config.Unjoin(err)...)
		}
	}
	return errs
}

// CheckConnectionFiles returns an error for each file of the prometheus
// and alerting.alertmanagers entries' tls_config, basic_auth and
// authorization that does not read or does not parse, naming its key and
// the file (config.HTTPClientConfig.CheckFiles): omen run refuses to
// start and a reload refuses the configuration (nothing changes); omen
// check config, which may run where the files are not (CI, for a
// ConfigMap), warns.
func CheckConnectionFiles(cfg *config.Config) []error {
	var errs []error
	for _, e := range clientEntries(cfg, true) {
		if err := e.h.CheckFiles(e.key); err != nil {
			errs = append(errs, config.Unjoin(err)...)
		}
	}
	return errs
}

// InsecureTLSMessage is what omen run, omen check config and omen train
// say of client settings with tls_config.insecure_skip_verify: true.
const InsecureTLSMessage = "tls_config.insecure_skip_verify is true: omen accepts any certificate from this server, " +
	"unverified (meant for tests; give tls_config.ca_file with the CA that signs it, and server_name when it names another host)"

// insecureTLSEntries returns the entries of clientEntries(cfg,
// prometheus) with tls_config.insecure_skip_verify set, their URLs with
// secrets hidden (redact.URL).
func insecureTLSEntries(cfg *config.Config, prometheus bool) []clientEntry {
	var out []clientEntry
	for _, e := range clientEntries(cfg, prometheus) {
		if e.h.TLSConfig.InsecureSkipVerify {
			e.url = redact.URL(e.url)
			out = append(out, e)
		}
	}
	return out
}

// warnInsecureTLS logs a WARN for each entry of cfg with
// tls_config.insecure_skip_verify set, the prometheus ones too when
// prometheus is true: omen run's start, and a reload that applies the
// Alertmanagers' settings.
func warnInsecureTLS(logger *slog.Logger, cfg *config.Config, prometheus bool) {
	for _, e := range insecureTLSEntries(cfg, prometheus) {
		logger.Warn(InsecureTLSMessage, "entry", e.key, "url", e.url)
	}
}

// InsecureTLSWarnings returns a warning for each prometheus and
// alerting.alertmanagers entry of cfg with tls_config.insecure_skip_verify
// set, naming the entry and its URL (secrets hidden), which omen run logs
// as a WARN: omen check config lists them.
func InsecureTLSWarnings(cfg *config.Config) []string {
	var out []string
	for _, e := range insecureTLSEntries(cfg, true) {
		out = append(out, fmt.Sprintf("%s (%s): %s", e.key, e.url, InsecureTLSMessage))
	}
	return out
}

// checkRemediations refuses the remediations the alert pipeline refuses
// when omen run starts or reloads (alert.New, alert.Manager.CheckReload,
// with alert.CheckRemediation): a cause or action missing, a cause that
// is not a valid path.Match pattern. It returns an error for each one at fault, named by its key
// (omen check config lists them one a line).
func checkRemediations(cfg *config.Config) []error {
	var errs []error
	for i, r := range cfg.Alerting.Remediations {
		if err := alert.CheckRemediation(alert.Remediation{Cause: r.Cause, Action: r.Action, RunbookURL: r.RunbookURL}); err != nil {
			errs = append(errs, fmt.Errorf("alerting.remediations[%d]: %w", i, err))
		}
	}
	return errs
}

// checkNATSDecode returns the error the NATS consumer gives at start for
// cfg's decoder options (stream.NewNATSConsumer builds its decoder with
// them).
func checkNATSDecode(cfg *config.Config) error {
	l, err := natsDecodeLimitsOf(cfg)
	if err == nil {
		_, err = decode.New(decodeOptions(cfg.Ingest, time.Duration(cfg.Resolved().Lookback), l))
	}
	if err != nil {
		return fmt.Errorf("nats: %w", err)
	}
	return nil
}

// checkModelFile returns the error omen run gives at start reading
// model.file path when the store has no active model that fits (scorer's
// loadFile): the file does not read, is no model file, or does not fit
// the features names or the step. A relative path is resolved against the
// working directory, as at start.
func checkModelFile(path string, names []string, step time.Duration) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return modelFileReadError(path, err)
	}
	m, err := model.Unmarshal(data)
	if err != nil {
		return fmt.Errorf("load model %q (model.file): not a model file: %w", path, err)
	}
	if err := m.CheckFeatures(names); err != nil {
		return fmt.Errorf("load model %q (model.file): it does not fit the configured features: %w", path, err)
	}
	if err := m.CheckStep(step); err != nil {
		return fmt.Errorf("load model %q (model.file): it does not fit the configured step: %w", path, err)
	}
	return nil
}

// modelFileReadError is the error of reading model.file path, err, read
// because the store's registry has no active model that fits the
// features; a missing file's says what to do.
func modelFileReadError(path string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("read model %q (model.file, read because the store's registry has no active model that fits the features; a relative path is resolved against the working directory): %w: "+
			"train one (omen train … --out %s), make one the store's active model (omen model add FILE --promote, with this daemon's --storage.path), "+
			"or remove model.file to start without a model (features are stored, nothing is scored until a model is promoted)", path, err, path)
	}
	return fmt.Errorf("read model %q: %w", path, err)
}
