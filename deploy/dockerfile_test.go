package deploy

import (
	"bufio"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// dockerfile is what the tests read of deploy/Dockerfile: its stages'
// instructions in order.
type dockerfile struct {
	stages []*stage
}

type stage struct {
	from, name string
	args       map[string]string // ARG name → default
	env        map[string]string // ENV
	instrs     []instruction     // every instruction but FROM
}

type instruction struct {
	cmd  string // upper case: RUN, COPY, …
	rest string // the rest, continuation lines joined
}

// parseDockerfile reads a Dockerfile: comments and blank lines dropped,
// lines ending in a backslash joined to the next, instructions grouped by
// stage.
func parseDockerfile(name string) (*dockerfile, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("open Dockerfile: %w", err)
	}
	defer f.Close()
	var d dockerfile
	var cur strings.Builder
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if l, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(l + " ")
			continue
		}
		cur.WriteString(line)
		full := cur.String()
		cur.Reset()
		cmd, rest, _ := strings.Cut(full, " ")
		cmd, rest = strings.ToUpper(cmd), strings.TrimSpace(rest)
		if cmd == "FROM" {
			s := &stage{args: map[string]string{}, env: map[string]string{}}
			f := strings.Fields(rest)
			s.from = f[0]
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				s.name = f[2]
			}
			d.stages = append(d.stages, s)
			continue
		}
		if len(d.stages) == 0 {
			return nil, fmt.Errorf("%s: %s before FROM", name, cmd)
		}
		s := d.stages[len(d.stages)-1]
		switch cmd {
		case "ARG":
			k, v, _ := strings.Cut(rest, "=")
			s.args[k] = v
		case "ENV":
			for _, kv := range strings.Fields(rest) {
				k, v, _ := strings.Cut(kv, "=")
				s.env[k] = v
			}
		}
		s.instrs = append(s.instrs, instruction{cmd, rest})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read Dockerfile: %w", err)
	}
	if len(d.stages) < 2 {
		return nil, fmt.Errorf("%s: want a build stage and a final stage, got %d stages", name, len(d.stages))
	}
	return &d, nil
}

func (d *dockerfile) final() *stage { return d.stages[len(d.stages)-1] }

// stageNamed returns the stage a COPY --from names.
func (d *dockerfile) stageNamed(name string) *stage {
	for _, s := range d.stages {
		if s.name == name {
			return s
		}
	}
	return nil
}

// all returns the rest of every instruction cmd of s.
func (s *stage) all(cmd string) []string {
	var out []string
	for _, in := range s.instrs {
		if in.cmd == cmd {
			out = append(out, in.rest)
		}
	}
	return out
}

// last returns the rest of the last instruction cmd of s.
func (s *stage) last(cmd string) string {
	all := s.all(cmd)
	if len(all) == 0 {
		return ""
	}
	return all[len(all)-1]
}

// goBuild returns the build stage and its RUN line holding `go build`,
// as words (shell quoting undone, ${VAR} of the stage's ARG and ENV
// replaced, args overriding ARG defaults), with its inline VAR=value
// assignments apart.
func (d *dockerfile) goBuild(args map[string]string) (s *stage, env map[string]string, words []string, err error) {
	for _, st := range d.stages {
		for _, run := range st.all("RUN") {
			if !strings.Contains(run, "go build") {
				continue
			}
			vars := map[string]string{}
			for k, v := range st.args {
				vars[k] = v
				if a, ok := args[k]; ok {
					vars[k] = a
				}
			}
			for k, v := range st.env {
				vars[k] = v
			}
			w, err := shellWords(run, vars)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("RUN %s: %w", run, err)
			}
			env := map[string]string{}
			for len(w) > 0 && strings.Contains(w[0], "=") && !strings.HasPrefix(w[0], "-") {
				k, v, _ := strings.Cut(w[0], "=")
				env[k] = v
				w = w[1:]
			}
			return st, env, w, nil
		}
	}
	return nil, nil, nil, fmt.Errorf("no RUN with go build in the Dockerfile")
}

// build runs the Dockerfile's go build line in the repository's root (the
// build context, copied to the stage's WORKDIR), with its stage's ENV and
// inline variables, writing the binary to out instead of its -o.
func (d *dockerfile) build(out string, args map[string]string) error {
	st, inline, words, err := d.goBuild(args)
	if err != nil {
		return err
	}
	if len(words) < 2 || words[0] != "go" || words[1] != "build" {
		return fmt.Errorf("the go build RUN line is not a single `go build …` command: %q", words)
	}
	i := slices.Index(words, "-o")
	if i < 0 || i+1 >= len(words) {
		return fmt.Errorf("the go build line has no -o: %q", words)
	}
	words = slices.Clone(words)
	words[i+1] = out
	cmd := command("go", words[1:]...)
	cmd.Dir = repoRoot
	cmd.Env = os.Environ()
	for _, m := range []map[string]string{st.env, inline} {
		for k, v := range m {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("the Dockerfile's go build (go %s): %w\n%s", strings.Join(words[1:], " "), err, b)
	}
	return nil
}

// shellWords splits s into words as sh does for a simple command: white
// space separates, single and double quotes group, and ${VAR} or $VAR
// outside single quotes is replaced from vars (an unknown one is an
// error). Nothing else of the shell is supported.
func shellWords(s string, vars map[string]string) ([]string, error) {
	var words []string
	var w strings.Builder
	inWord := false
	var quote rune
	rs := []rune(s)
	for i := 0; i < len(rs); i++ {
		c := rs[i]
		switch {
		case quote == '\'' && c != '\'':
			w.WriteRune(c)
		case c == '\'' || c == '"':
			inWord = true
			switch quote {
			case 0:
				quote = c
			case c:
				quote = 0
			default:
				w.WriteRune(c)
			}
		case c == '$':
			j := i + 1
			var name string
			if j < len(rs) && rs[j] == '{' {
				k := j
				for k < len(rs) && rs[k] != '}' {
					k++
				}
				name, i = string(rs[j+1:k]), k
			} else {
				k := j
				for k < len(rs) && (rs[k] == '_' || rs[k] >= 'A' && rs[k] <= 'Z' || rs[k] >= 'a' && rs[k] <= 'z' || rs[k] >= '0' && rs[k] <= '9') {
					k++
				}
				name, i = string(rs[j:k]), k-1
			}
			v, ok := vars[name]
			if !ok {
				return nil, fmt.Errorf("variable %q is neither an ARG nor an ENV of the stage", name)
			}
			w.WriteString(v)
			inWord = true
		case quote == 0 && (c == ' ' || c == '\t'):
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case quote == 0 && strings.ContainsRune(";&|<>`", c):
			return nil, fmt.Errorf("shell syntax %q is not supported here: keep the go build RUN line a single command", c)
		default:
			w.WriteRune(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated quote")
	}
	if inWord {
		words = append(words, w.String())
	}
	return words, nil
}

// execForm decodes an exec-form (JSON array) ENTRYPOINT or CMD.
func execForm(t *testing.T, what, rest string) []string {
	t.Helper()
	var v []string
	if err := json.Unmarshal([]byte(rest), &v); err != nil {
		t.Fatalf("%s %s: want the exec form, a JSON array of strings: %v", what, rest, err)
	}
	return v
}

// copyInstr is a COPY's sources, destination and --from.
type copyInstr struct {
	from string
	srcs []string
	dst  string
}

func (s *stage) copies() []copyInstr {
	var out []copyInstr
	for _, rest := range s.all("COPY") {
		var c copyInstr
		var words []string
		for _, f := range strings.Fields(rest) {
			switch {
			case strings.HasPrefix(f, "--from="):
				c.from = strings.TrimPrefix(f, "--from=")
			case strings.HasPrefix(f, "--"):
			default:
				words = append(words, f)
			}
		}
		if len(words) >= 2 {
			c.srcs, c.dst = words[:len(words)-1], words[len(words)-1]
		}
		out = append(out, c)
	}
	return out
}

// TestDockerfile checks deploy/Dockerfile statically, with the binary
// TestMain built from its go build line.
func TestDockerfile(t *testing.T) {
	d, err := parseDockerfile(filepath.Join(repoRoot, "deploy", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	build, inline, words, err := d.goBuild(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("build", func(t *testing.T) {
		if !strings.HasPrefix(build.from, "golang:1.26") {
			t.Errorf("build stage FROM %s, want golang:1.26 (go.mod's go version)", build.from)
		}
		cgo, ok := inline["CGO_ENABLED"]
		if !ok {
			cgo = build.env["CGO_ENABLED"]
		}
		if cgo != "0" {
			t.Errorf("CGO_ENABLED is %q in the build stage, want 0: the final image has no C library", cgo)
		}
		if !slices.Contains(words, "-trimpath") {
			t.Errorf("go build without -trimpath: %q", words)
		}
		// The binary TestMain built with this line reports the version
		// and revision given as build arguments: the -X names are
		// variables omen prints.
		out, err := command(omenBin(t), "--version").CombinedOutput()
		if err != nil {
			t.Fatalf("omen --version: %v\n%s", err, out)
		}
		for _, want := range []string{"version " + testVersion, "revision: " + testRevision} {
			if !strings.Contains(string(out), want) {
				t.Errorf("omen --version of the Dockerfile's build with VERSION=%s REVISION=%s lacks %q:\n%s", testVersion, testRevision, want, out)
			}
		}
		// Static: no ELF interpreter (a cgo build would want the
		// dynamic loader the distroless static image lacks).
		f, err := elf.Open(omenBin(t))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("the built omen has an ELF interpreter: not a static binary")
			}
		}
	})

	final := d.final()
	entry := execForm(t, "ENTRYPOINT", final.last("ENTRYPOINT"))
	cmd := execForm(t, "CMD", final.last("CMD"))
	t.Run("final", func(t *testing.T) {
		if !strings.HasPrefix(final.from, "gcr.io/distroless/static") && final.from != "scratch" {
			t.Errorf("final stage FROM %s, want distroless/static or scratch", final.from)
		}
		user := final.last("USER")
		uid, _, _ := strings.Cut(user, ":")
		if n, err := strconv.Atoi(uid); err != nil || n == 0 {
			t.Errorf("USER %q: want a numeric non-root user (Kubernetes' runAsNonRoot verifies only numeric ones)", user)
		}
		if len(entry) != 1 {
			t.Fatalf("ENTRYPOINT %q, want the binary alone", entry)
		}
		// The ENTRYPOINT is the binary go build wrote, copied from the
		// build stage.
		o := words[slices.Index(words, "-o")+1]
		copied := false
		for _, c := range final.copies() {
			if c.dst == entry[0] && slices.Equal(c.srcs, []string{o}) && d.stageNamed(c.from) == build {
				copied = true
			}
		}
		if !copied {
			t.Errorf("ENTRYPOINT %s is not the build stage's -o %s copied into the final stage", entry[0], o)
		}
	})

	t.Run("cmd", func(t *testing.T) {
		if len(cmd) == 0 || cmd[0] != "run" {
			t.Fatalf("CMD %q, want run and its flags", cmd)
		}
		checkRunArgs(t, cmd[1:])
		flags := flagValues(cmd[1:])
		port, _ := checkDaemonFlags(t, flags)
		var exposed []string
		for _, e := range final.all("EXPOSE") {
			exposed = append(exposed, strings.Fields(e)...)
		}
		if want := []string{strconv.Itoa(port), strconv.Itoa(port) + "/tcp"}; len(exposed) != 1 || !slices.Contains(want, exposed[0]) {
			t.Errorf("EXPOSE %q, want the port of --web.listen-address, %d", exposed, port)
		}
		storage := flags["storage.path"]
		if !slices.Contains(final.all("VOLUME"), storage) {
			t.Errorf("no VOLUME %s (--storage.path): VOLUME %q", storage, final.all("VOLUME"))
		}
		owned := false
		for _, rest := range final.all("COPY") {
			f := strings.Fields(rest)
			if slices.Contains(f, "--chown="+final.last("USER")) && f[len(f)-1] == storage {
				owned = true
			}
		}
		if !owned {
			t.Errorf("--storage.path %s is not copied into the image owned by USER %s: the non-root user could not create it", storage, final.last("USER"))
		}
		if tf := flags["web.token-file"]; !within(tf, "/run/secrets") {
			t.Errorf("--web.token-file %s: want it under /run/secrets (docker/compose secrets)", tf)
		}
		src := dockerConfigSource(t, d, flags["config.file"])
		data, err := os.ReadFile(filepath.Join(repoRoot, src))
		if err != nil {
			t.Fatal(err)
		}
		checkConfig(t, "the image's "+flags["config.file"]+" ("+src+")", data)
	})

	t.Run("header", func(t *testing.T) {
		// The header's docker run example: the published port, the
		// volume and the token's mount match CMD.
		b, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "Dockerfile"))
		if err != nil {
			t.Fatal(err)
		}
		flags := flagValues(cmd[1:])
		_, port, _ := strings.Cut(flags["web.listen-address"], ":")
		for _, want := range []string{
			"-p " + port + ":" + port,
			":" + flags["storage.path"],
			":" + flags["web.token-file"] + ":ro",
			"docker build -f deploy/Dockerfile",
		} {
			if !strings.Contains(string(b), want) {
				t.Errorf("the Dockerfile's header does not say %q", want)
			}
		}
		checkTokenInstall(t, string(b), flags["web.token-file"], final.last("USER"))
		if m := regexp.MustCompile(`--stop-timeout (\d+)`).FindStringSubmatch(string(b)); m == nil {
			t.Errorf("the header's docker run has no --stop-timeout (Docker's default, 10s, is below omen's shutdown timeout)")
		} else if n, _ := strconv.Atoi(m[1]); float64(n) <= mustDuration(t, flags["shutdown-timeout"]).Seconds() {
			t.Errorf("--stop-timeout %d is not above --shutdown-timeout %s", n, flags["shutdown-timeout"])
		}
	})
}

// checkTokenInstall wants the header to make the token file it mounts at
// tokenFile readable by the image's USER (uid:gid): a bind mount keeps the
// host file's owner and mode, and a root-only file makes omen exit 1.
func checkTokenInstall(t *testing.T, header, tokenFile, user string) {
	t.Helper()
	r := dockerUser(t, user)
	f, err := tokenInstall(header, tokenFile)
	if err != nil {
		t.Errorf("%v: show how to make it readable by USER %s (install -m 0440 -g %d …): omen, not root, reads the mounted file", err, user, r.gid)
		return
	}
	if !r.may(f, 0o4) {
		t.Errorf("the header's install of the token file (mode %#o, owner %d, group %d) is not readable by USER %s", f.mode, f.uid, f.gid, user)
	}
}

// dockerUser returns the numeric uid:gid of a USER.
func dockerUser(t *testing.T, user string) *runAs {
	t.Helper()
	uidS, gidS, _ := strings.Cut(user, ":")
	uid, err1 := strconv.Atoi(uidS)
	gid, err2 := strconv.Atoi(gidS)
	if err1 != nil || err2 != nil {
		t.Fatalf("USER %q: want numeric uid:gid", user)
	}
	return &runAs{uid: uid, gid: gid}
}

// tokenInstall returns the owner, group and mode the header's install
// command gives the token file: the source of the header's
// -v "$PWD/FILE:tokenFile:ro". An owner or group install is not given is
// -1 (not USER's: sudo's root, or whoever runs it).
func tokenInstall(header, tokenFile string) (fileOwner, error) {
	m := regexp.MustCompile(`-v "?\$PWD/([^:"]+):` + regexp.QuoteMeta(tokenFile) + `:ro`).FindStringSubmatch(header)
	if m == nil {
		return fileOwner{}, fmt.Errorf("the header's docker run does not mount \"$PWD/FILE:%s:ro\"", tokenFile)
	}
	src := m[1]
	for _, line := range strings.Split(header, "\n") {
		words := strings.Fields(strings.TrimPrefix(line, "#"))
		i := slices.Index(words, "install")
		if i < 0 || words[len(words)-1] != src {
			continue
		}
		f := fileOwner{-1, -1, 0}
		hasMode := false
		for j := i + 1; j+1 < len(words); j++ {
			var err error
			switch words[j] {
			case "-m", "--mode":
				var v uint64
				v, err = strconv.ParseUint(words[j+1], 8, 32)
				f.mode, hasMode = os.FileMode(v), true
			case "-o", "--owner":
				f.uid, err = idOf(words[j+1])
			case "-g", "--group":
				f.gid, err = idOf(words[j+1])
			default:
				continue
			}
			if err != nil {
				return fileOwner{}, fmt.Errorf("the header's install of %s: %s %s: %w", src, words[j], words[j+1], err)
			}
			j++
		}
		if !hasMode {
			return fileOwner{}, fmt.Errorf("the header's install of %s gives no -m (install's default is 0755)", src)
		}
		return f, nil
	}
	return fileOwner{}, fmt.Errorf("the header does not create %s, the token file it mounts, with install", src)
}

// idOf returns a numeric user or group id; root is 0.
func idOf(s string) (int, error) {
	if s == "root" {
		return 0, nil
	}
	return strconv.Atoi(s)
}

// dockerConfigSource returns the repository file the final stage copies
// to the configuration path.
func dockerConfigSource(t *testing.T, d *dockerfile, path string) string {
	t.Helper()
	for _, c := range d.final().copies() {
		if c.from == "" && c.dst == path && len(c.srcs) == 1 {
			return c.srcs[0]
		}
	}
	t.Fatalf("--config.file %s is not a file the final stage copies from the build context", path)
	return ""
}
