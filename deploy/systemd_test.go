package deploy

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// unit is a systemd unit file: section → key → values in order.
type unit map[string]map[string][]string

// parseUnit reads a unit file: comments (# and ;), sections, Key=Value
// lines (a key may repeat) and lines continued with a trailing backslash.
func parseUnit(t *testing.T, name string) unit {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u := unit{}
	section := ""
	var cont strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if cont.Len() == 0 && (line == "" || line[0] == '#' || line[0] == ';') {
			continue
		}
		if l, ok := strings.CutSuffix(line, `\`); ok {
			cont.WriteString(l + " ")
			continue
		}
		cont.WriteString(line)
		line = cont.String()
		cont.Reset()
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = line[1 : len(line)-1]
			if u[section] == nil {
				u[section] = map[string][]string{}
			}
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || section == "" {
			t.Fatalf("%s: line %q is not Key=Value in a section", name, line)
		}
		k = strings.TrimSpace(k)
		u[section][k] = append(u[section][k], strings.TrimSpace(v))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

// get returns the last value of section's key ("" when unset).
func (u unit) get(section, key string) string {
	vs := u[section][key]
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

// execStart returns the unit's ExecStart as words. Quotes, specifiers
// (%) and variables ($) are refused: systemd would rewrite them, and the
// words would not be what omen receives. (%d, the credentials directory,
// needs systemd 251; the unit names the directory for 247.)
func (u unit) execStart(t *testing.T) []string {
	t.Helper()
	vs := u["Service"]["ExecStart"]
	if len(vs) != 1 {
		t.Fatalf("ExecStart given %d times, want once", len(vs))
	}
	if strings.ContainsAny(vs[0], `"'%$\`) {
		t.Fatalf("ExecStart %q: keep it free of quotes, %% specifiers and $ variables (this test splits it on white space)", vs[0])
	}
	return strings.Fields(vs[0])
}

// TestSystemd checks deploy/systemd/omen.service and omen.yml.
func TestSystemd(t *testing.T) {
	dir := filepath.Join(repoRoot, "deploy", "systemd")
	u := parseUnit(t, filepath.Join(dir, "omen.service"))
	words := u.execStart(t)
	if len(words) < 2 || !filepath.IsAbs(words[0]) || filepath.Base(words[0]) != "omen" || words[1] != "run" {
		t.Fatalf("ExecStart %q, want /…/omen run and its flags", words)
	}
	args := words[2:]
	flags := flagValues(args)

	t.Run("args", func(t *testing.T) {
		checkRunArgs(t, args)
	})

	t.Run("config", func(t *testing.T) {
		data, err := os.ReadFile(filepath.Join(dir, "omen.yml"))
		if err != nil {
			t.Fatal(err)
		}
		checkConfig(t, "deploy/systemd/omen.yml", data)
		// The unit's install steps put that file where ExecStart reads it.
		b, err := os.ReadFile(filepath.Join(dir, "omen.service"))
		if err != nil {
			t.Fatal(err)
		}
		if want := "deploy/systemd/omen.yml " + flags["config.file"]; !strings.Contains(string(b), want) {
			t.Errorf("the unit's install comment does not copy the configuration to --config.file: want %q", want)
		}
	})

	t.Run("service", func(t *testing.T) {
		_, shutdown := checkDaemonFlags(t, flags)
		for key, want := range map[string]string{
			"Type":    "simple", // omen does not call sd_notify
			"Restart": "on-failure",
			// A usage error (exit 2) does not go away by restarting.
			"RestartPreventExitStatus": "2",
			"NoNewPrivileges":          "yes",
			"ProtectSystem":            "strict",
			"DynamicUser":              "yes",
		} {
			if got := u.get("Service", key); got != want {
				t.Errorf("%s=%q, want %q", key, got, want)
			}
		}
		if u.get("Service", "LimitNOFILE") == "" {
			t.Errorf("no LimitNOFILE (Badger keeps a file open per table)")
		}
		if !regexp.MustCompile(`^/\S*kill -(HUP|SIGHUP|s HUP) \$MAINPID$`).MatchString(u.get("Service", "ExecReload")) {
			t.Errorf("ExecReload=%q, want kill -HUP $MAINPID: SIGHUP reloads omen's configuration", u.get("Service", "ExecReload"))
		}
		stop, err := time.ParseDuration(u.get("Service", "TimeoutStopSec"))
		if err != nil || stop <= shutdown {
			t.Errorf("TimeoutStopSec=%q, want a duration above --shutdown-timeout %v (%v)", u.get("Service", "TimeoutStopSec"), shutdown, err)
		}
	})

	t.Run("version", func(t *testing.T) {
		// The header states the oldest systemd that knows every setting
		// the unit relies on: an older one ignores an unknown setting
		// with a warning (LoadCredential=: the token file is missing,
		// and omen exits 1 at every restart).
		b, err := os.ReadFile(filepath.Join(dir, "omen.service"))
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`(?m)^#.*\bsystemd (\d+) or later`).FindSubmatch(b)
		if m == nil {
			t.Fatal("the unit's header does not say which systemd it needs (systemd N or later)")
		}
		minimum, _ := strconv.Atoi(string(m[1]))
		for key, since := range map[string]int{
			"LoadCredential":    247,
			"ProtectProc":       247,
			"ProtectClock":      245,
			"ProtectKernelLogs": 244,
			"ProtectHostname":   242,
			"RestrictSUIDSGID":  242,
		} {
			if len(u["Service"][key]) > 0 && minimum < since {
				t.Errorf("%s= needs systemd %d; the header says systemd %d or later", key, since, minimum)
			}
		}
	})

	t.Run("nats drop-in", func(t *testing.T) {
		checkNATSDropIn(t, words, filepath.Join(dir, "omen.service.d", "nats.conf"))
	})

	t.Run("systemd-analyze verify", func(t *testing.T) {
		systemdVerify(t, dir)
	})

	t.Run("paths", func(t *testing.T) {
		// ProtectSystem=strict leaves only the StateDirectory (and
		// ReadWritePaths) writable: the store must be there.
		state := u.get("Service", "StateDirectory")
		if state == "" || flags["storage.path"] != "/var/lib/"+state {
			t.Errorf("--storage.path %q, want /var/lib/ + StateDirectory (%q), the writable directory", flags["storage.path"], state)
		}
		// The token is the credential LoadCredential hands the service.
		name, _, ok := strings.Cut(u.get("Service", "LoadCredential"), ":")
		if want := "/run/credentials/omen.service/" + name; !ok || flags["web.token-file"] != want {
			t.Errorf("--web.token-file %q, want %q (LoadCredential=%s)", flags["web.token-file"], want, u.get("Service", "LoadCredential"))
		}
	})
}

// credentialsDir is where systemd (247 or later) puts the unit's
// LoadCredential files.
const credentialsDir = "/run/credentials/omen.service/"

// checkNATSDropIn checks the drop-in name (deploy/systemd/omen.service.d/
// nats.conf) of the unit whose ExecStart is unitWords: it clears
// ExecStart and sets the unit's with --nats.url and NATS authentication
// flags added; every NATS authentication flag it shows, set or commented
// ("#  --nats.…" lines), is one omen run knows, and each file flag names a
// credential (credentialsDir/NAME) that a LoadCredential=NAME:PATH of the
// drop-in hands over, set when the flag is set, from an absolute PATH.
func checkNATSDropIn(t *testing.T, unitWords []string, name string) {
	t.Helper()
	d := parseUnit(t, name)
	es := d["Service"]["ExecStart"]
	if len(es) != 2 || es[0] != "" {
		t.Fatalf("%s: ExecStart %q: want an empty ExecStart= (clearing the unit's), then one", name, es)
	}
	if strings.ContainsAny(es[1], `"'%$\`) {
		t.Fatalf("%s: ExecStart %q: keep it free of quotes, %% specifiers and $ variables", name, es[1])
	}
	words := strings.Fields(es[1])
	if len(words) < len(unitWords) || !slices.Equal(words[:len(unitWords)], unitWords) {
		t.Fatalf("%s: ExecStart %q: want the unit's (%q) with NATS flags added", name, words, unitWords)
	}
	added := words[len(unitWords):]
	set := flagValues(added)
	if set["nats.url"] == "" {
		t.Errorf("%s: ExecStart adds no --nats.url", name)
	}
	for f := range set {
		if !strings.HasPrefix(f, "nats.") {
			t.Errorf("%s: ExecStart adds --%s: want NATS flags only", name, f)
		}
	}
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var commented []string
	for _, m := range regexp.MustCompile(`(?m)^#\s+(--nats\..*)$`).FindAllStringSubmatch(string(b), -1) {
		commented = append(commented, strings.Fields(m[1])...)
	}
	shown := flagValues(append(slices.Clone(added), commented...))
	for _, f := range natsAuthFlags {
		if shown[f] == "" {
			t.Errorf("%s: --%s is neither set nor shown commented (#  --%s=…)", name, f, f)
		}
	}
	// omen run's flag parser knows them all (--help exits before omen
	// run refuses more than one way to authenticate).
	checkRunArgs(t, append(append(slices.Clone(unitWords[2:]), added...), commented...))
	creds := map[string]string{} // LoadCredential, set or commented: name → path
	for _, m := range regexp.MustCompile(`(?m)^#?LoadCredential=(.*)$`).FindAllStringSubmatch(string(b), -1) {
		id, path, ok := strings.Cut(m[1], ":")
		if !ok || !filepath.IsAbs(path) {
			t.Errorf("%s: LoadCredential=%s: want NAME:/absolute/path", name, m[1])
		}
		creds[id] = path
	}
	active := map[string]bool{}
	for _, v := range d["Service"]["LoadCredential"] {
		id, _, _ := strings.Cut(v, ":")
		active[id] = true
	}
	for f, v := range shown {
		if !strings.HasSuffix(f, "-file") {
			continue
		}
		id, ok := strings.CutPrefix(v, credentialsDir)
		switch {
		case !ok:
			t.Errorf("%s: --%s=%s: want a credential, %sNAME", name, f, v, credentialsDir)
		case creds[id] == "":
			t.Errorf("%s: --%s=%s: no LoadCredential=%s:… hands it over", name, f, v, id)
		case set[f] != "" && !active[id]:
			t.Errorf("%s: --%s is set, its LoadCredential=%s:… is commented", name, f, id)
		}
	}
}

// systemdAnalyze is systemd's unit checker (Debian's systemd package;
// scripts/test.sh installs it).
const systemdAnalyze = "/usr/bin/systemd-analyze"

// systemdVerify runs systemd-analyze verify on the unit of dir with its
// drop-ins (omen.service.d), their omen the binary the tests built (verify
// wants ExecStart's executable): it must pass and say nothing, neither an
// error nor a warning (an unknown or misspelt key, a bad value).
func systemdVerify(t *testing.T, dir string) {
	t.Helper()
	if _, err := os.Stat(systemdAnalyze); err != nil {
		t.Fatalf("%s is required (%v); install it with: apt-get update && apt-get install -y systemd", systemdAnalyze, err)
	}
	tmp := t.TempDir()
	bin := omenBin(t)
	copyUnit := func(rel string) {
		b, err := os.ReadFile(filepath.Join(dir, rel))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte("=/usr/local/bin/omen ")) {
			t.Fatalf("%s: no ExecStart=/usr/local/bin/omen …", rel)
		}
		b = bytes.ReplaceAll(b, []byte("=/usr/local/bin/omen "), []byte("="+bin+" "))
		if err := os.MkdirAll(filepath.Dir(filepath.Join(tmp, rel)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tmp, rel), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	copyUnit("omen.service")
	dropIns, err := filepath.Glob(filepath.Join(dir, "omen.service.d", "*.conf"))
	if err != nil || len(dropIns) == 0 {
		t.Fatalf("no drop-in in %s/omen.service.d (%v)", dir, err)
	}
	for _, f := range dropIns {
		copyUnit(filepath.Join("omen.service.d", filepath.Base(f)))
	}
	out, err := command(systemdAnalyze, "verify", filepath.Join(tmp, "omen.service")).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Errorf("systemd-analyze verify omen.service with its drop-ins: %v\n%s", err, out)
	}
}
