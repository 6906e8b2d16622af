// Package deploy holds no code: its tests keep omen's deployment files
// (deploy/kubernetes, deploy/systemd, deploy/Dockerfile) true to the omen
// they deploy, so that a renamed flag, a moved route or a changed default
// fails a test rather than a deployment.
//
// The first test that needs omen builds it, once (a run of no such test,
// go test -run '^$' -bench …, builds nothing), with the Dockerfile's own
// `go build` line (its CGO_ENABLED, -trimpath and version -ldflags; Docker
// itself is not run). With that binary, every set of daemon arguments —
// the StatefulSet's args, the systemd unit's ExecStart, the image's CMD —
// goes through omen run's real flag parser (`omen run ARGS --help`): it
// refuses an unknown flag and a bad value of a typed flag
// (--shutdown-timeout's duration), and exits 0 at --help before omen run
// checks its string flags' values. Those the tests check themselves:
// --storage.retention with omen's duration parser and minimum, --log.level,
// the listen addresses as host:port with a port number, --nats.url and
// --alertmanager.url as URLs with a host, the paths absolute. Each
// configuration file (the ConfigMap's omen.yml, deploy/systemd/omen.yml,
// the file the image copies) loads and passes config.LoadFile and
// app.CheckConfig, as `omen check config` does.
//
// The go build and the omen processes the tests start are killed with the
// test process on Linux (Pdeathsig), and a test process's start removes
// the omen-deploy-test-PID directory a dead one left in the temporary
// directory (a go test -timeout panic skips the cleanup).
//
// The static tests check what ties the files together: the Kubernetes
// manifest's single replica, container port against --web.listen-address,
// storage path against the volume claim's mount, token file inside the
// Secret's mount, the commented alertmanager_ui_url (an in-cluster
// Alertmanager's name is not one browsers reach), probes on the web port,
// grace period above --shutdown-timeout, security context, the token and
// configuration readable and the store's volume writable by runAsUser
// (fsGroup, runAsGroup, defaultMode), resources, the headless governing
// Service, scrape annotations on the pod template alone, ServiceMonitor
// and the remote-write snippet's URL; the unit's StateDirectory,
// credential, reload signal, stop timeout and the oldest systemd its
// settings need; the NATS authentication the manifest shows commented out
// (uncommented: only its flags added, each known to omen run, each file in
// a Secret's volume mounted read-only, readable by omen, the Secret and
// key made by the header's kubectl command) and the unit's drop-in
// omen.service.d/nats.conf (its ExecStart the unit's plus NATS flags, each
// file flag, set or commented, a credential it hands over with
// LoadCredential); systemd-analyze verify of the unit with its drop-ins,
// which must say nothing (scripts/test.sh installs Debian's systemd for
// it); the Dockerfile's static build, EXPOSE port, non-root
// USER, copied configuration and the header's token file readable by
// USER. A non-loopback listen address must come with a token file, as omen
// run requires.
//
// TestSmoke starts that binary with each file's arguments and
// configuration, paths moved to a temporary directory, addresses to random
// loopback ports, an external NATS URL to a local nats-server and
// Alertmanager URLs to a local stub. Run as root, it runs omen as the
// user the manifest (runAsUser, runAsGroup, fsGroup) or the image (USER)
// gives it, the token file and the store's directory owned and moded as
// the kubelet (defaultMode, fsGroup) or the Dockerfile header's install
// and the image make them; as another user, omen runs as that user. It
// checks that the probe and scrape
// paths answer 200 without the token, that the API and remote-write
// answer 401 without it and succeed with it, that SIGHUP reloads, and
// that SIGTERM stops omen with exit 0 within the grace period.
package deploy
