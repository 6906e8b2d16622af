// Package deploy holds no code: its tests keep omen's deployment files
// (deploy/kubernetes, deploy/systemd, deploy/Dockerfile) true to the omen
// they deploy, so that a renamed flag, a moved route or a changed default
// fails a test rather than a deployment.
//
// TestMain builds omen with the Dockerfile's own `go build` line (its
// CGO_ENABLED, -trimpath and version -ldflags; Docker itself is not run).
// With that binary, every set of daemon arguments — the StatefulSet's
// args, the systemd unit's ExecStart, the image's CMD — goes through omen
// run's real flag parser (`omen run ARGS --help`, which parses every flag
// and its value, then exits 0). Each configuration file (the ConfigMap's
// omen.yml, deploy/systemd/omen.yml, the file the image copies) loads and
// passes config.LoadFile and app.CheckConfig, as `omen check config` does.
//
// The static tests check what ties the files together: the Kubernetes
// manifest's single replica, container port against --web.listen-address,
// storage path against the volume claim's mount, token file inside the
// Secret's mount, probes on the web port, grace period above
// --shutdown-timeout, security context, resources, Service, ServiceMonitor
// and the remote-write snippet's URL; the unit's StateDirectory,
// credential, reload signal and stop timeout; the Dockerfile's static
// build, EXPOSE port, non-root USER and copied configuration. A
// non-loopback listen address must come with a token file, as omen run
// requires.
//
// TestSmoke starts that binary with each file's arguments and
// configuration, paths moved to a temporary directory, addresses to random
// loopback ports, an external NATS URL to a local nats-server and
// Alertmanager URLs to a local stub, and checks that the probe and scrape
// paths answer 200 without the token, that the API and remote-write
// answer 401 without it and succeed with it, that SIGHUP reloads, and
// that SIGTERM stops omen with exit 0 within the grace period.
package deploy
