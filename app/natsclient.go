package app

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/omen-sre/omen/internal/tlsfiles"
)

// NATSClient is how omen authenticates to an external NATS server
// (Options.NATSURL, --nats.url) and which server certificates it trusts,
// with the secrets in files rather than in the URL (a URL's credentials
// show in a pod's arguments and in ps). Each field is the value of the
// --nats.* flag named in its comment. Every file is read, and refused
// when missing, empty or not parsing, by New (before anything is opened),
// and read again at each connect and reconnect: a credentials file,
// password, token, CA or client certificate rotated in place (a
// Kubernetes Secret's update) is used from the next connect on. A file
// that cannot be read at a reconnect leaves the connect to fail (creds,
// TLS) or the value read before in use (password, token), with a WARN.
// The NKey seed's key is the one read at the start until a restart (see
// nkeySeed), with a WARN when the file holds another one.
type NATSClient struct {
	// CredsFile is a JWT user credentials file (--nats.creds-file), as
	// nsc and the nats CLI write.
	CredsFile string
	// NkeySeedFile holds a user NKey seed (--nats.nkey-seed-file).
	NkeySeedFile string
	// User and PasswordFile (--nats.user, --nats.password-file) go
	// together: user/password authentication.
	User, PasswordFile string
	// TokenFile holds an authentication token (--nats.token-file).
	TokenFile string
	// TLSCAFile holds the PEM certificates of the CAs that sign the
	// server's certificate (--nats.tls-ca-file; default the system's).
	TLSCAFile string
	// TLSCertFile and TLSKeyFile are the client certificate and key (PEM)
	// for a server that requires one (--nats.tls-cert-file,
	// --nats.tls-key-file; mutual TLS).
	TLSCertFile, TLSKeyFile string
	// TLSServerName is the name the server's certificate is checked for
	// (--nats.tls-server-name; default the URL's host).
	TLSServerName string
}

// natsClientFlag is one setting of a NATSClient: its flag and value.
type natsClientFlag struct{ flag, value string }

func (c NATSClient) flags() []natsClientFlag {
	return []natsClientFlag{
		{"nats.creds-file", c.CredsFile}, {"nats.nkey-seed-file", c.NkeySeedFile},
		{"nats.user", c.User}, {"nats.password-file", c.PasswordFile}, {"nats.token-file", c.TokenFile},
		{"nats.tls-ca-file", c.TLSCAFile}, {"nats.tls-cert-file", c.TLSCertFile}, {"nats.tls-key-file", c.TLSKeyFile},
		{"nats.tls-server-name", c.TLSServerName},
	}
}

// authMethods returns the flags of the authentication methods c gives,
// one per method (user and password count as one).
func (c NATSClient) authMethods() []string {
	var m []string
	for _, f := range []natsClientFlag{
		{"--nats.creds-file", c.CredsFile}, {"--nats.nkey-seed-file", c.NkeySeedFile},
		{"--nats.user", c.User + c.PasswordFile}, {"--nats.token-file", c.TokenFile},
	} {
		if f.value != "" {
			m = append(m, f.flag)
		}
	}
	return m
}

func (c NATSClient) tls() bool {
	return c.TLSCAFile != "" || c.TLSCertFile != "" || c.TLSKeyFile != "" || c.TLSServerName != ""
}

// CheckNATSClient refuses the combinations of c and the NATS URL natsURL
// that cannot work, without reading a file: a setting without natsURL
// (the embedded server has no authentication and no TLS), more than one
// authentication method, a user without a password file or the reverse,
// a client certificate without its key or the reverse, and credentials
// given both in natsURL and by c. omen run reports its error as a usage
// error (exit 2); New refuses it too.
func CheckNATSClient(natsURL string, c NATSClient) error {
	if natsURL == "" {
		for _, f := range c.flags() {
			if f.value != "" {
				return fmt.Errorf("--%s applies only with --nats.url: the embedded NATS server has no authentication and no TLS (it listens on loopback only)", f.flag)
			}
		}
		return nil
	}
	methods := c.authMethods()
	if len(methods) > 1 {
		return fmt.Errorf("%s conflict: give one way to authenticate to NATS", strings.Join(methods, " and "))
	}
	if (c.User == "") != (c.PasswordFile == "") {
		return errors.New("--nats.user and --nats.password-file go together: give both or neither")
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		return errors.New("--nats.tls-cert-file and --nats.tls-key-file go together: give both or neither")
	}
	if len(methods) == 1 && natsURLHasUserInfo(natsURL) {
		return fmt.Errorf("--nats.url has credentials in it (user:password@ or token@) and %s gives others: give them one way (the flags keep them out of the command line)", methods[0])
	}
	return nil
}

// natsURLHasUserInfo reports whether a URL of the comma-separated list s
// has user information (an "@" before its path). A password with a comma
// in it splits a URL at the comma; the piece after it still has the "@".
func natsURLHasUserInfo(s string) bool {
	for piece := range strings.SplitSeq(s, ",") {
		p := strings.TrimSpace(piece)
		if _, rest, ok := strings.Cut(p, "://"); ok {
			p = rest
		}
		if i := strings.IndexAny(p, "/?#"); i >= 0 {
			p = p[:i]
		}
		if strings.Contains(p, "@") {
			return true
		}
	}
	return false
}

// connectOptions checks c's files (each read once: it exists, is not
// empty and parses) and returns the NATS client options that
// authenticate and set up TLS with them, re-reading the files at each
// connect (see NATSClient); nil for a zero c. Its errors name the flag
// and the file, never a file's content. logger receives the WARN of a
// password or token file that cannot be read at a reconnect.
func (c NATSClient) connectOptions(logger *slog.Logger) ([]nats.Option, error) {
	var opts []nats.Option
	switch {
	case c.CredsFile != "":
		if err := checkCredsFile(c.CredsFile); err != nil {
			return nil, fileError("nats.creds-file", c.CredsFile, err)
		}
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	case c.NkeySeedFile != "":
		seed := &nkeySeed{path: c.NkeySeedFile, logger: logger}
		if err := seed.load(); err != nil {
			return nil, fileError("nats.nkey-seed-file", c.NkeySeedFile, err)
		}
		opts = append(opts, nats.Nkey(seed.pub, seed.sign))
	case c.User != "":
		pass := &fileSecret{flag: "nats.password-file", path: c.PasswordFile, logger: logger}
		if err := pass.load(); err != nil {
			return nil, err
		}
		opts = append(opts, nats.UserInfoHandler(func() (string, string) { return c.User, pass.get() }))
	case c.TokenFile != "":
		token := &fileSecret{flag: "nats.token-file", path: c.TokenFile, logger: logger}
		if err := token.load(); err != nil {
			return nil, err
		}
		opts = append(opts, nats.TokenHandler(token.get))
	}
	if !c.tls() {
		return opts, nil
	}
	// The CA and the client certificate are read by nats.go at each
	// connect (RootCAs, ClientCert); ServerName stays.
	opts = append(opts, nats.Secure(&tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.TLSServerName}))
	if c.TLSCAFile != "" {
		switch err := tlsfiles.CheckCA(c.TLSCAFile); {
		case errors.Is(err, tlsfiles.ErrNoCertificate):
			return nil, fmt.Errorf("--nats.tls-ca-file %q: no PEM certificate in it", c.TLSCAFile)
		case err != nil:
			return nil, fileError("nats.tls-ca-file", c.TLSCAFile, err)
		}
		opts = append(opts, nats.RootCAs(c.TLSCAFile))
	}
	if c.TLSCertFile != "" {
		if err := tlsfiles.CheckKeyPair(c.TLSCertFile, c.TLSKeyFile); err != nil {
			return nil, fmt.Errorf("--nats.tls-cert-file %q, --nats.tls-key-file %q: %w", c.TLSCertFile, c.TLSKeyFile, err)
		}
		opts = append(opts, nats.ClientCert(c.TLSCertFile, c.TLSKeyFile))
	}
	return opts, nil
}

// fileError names the flag, and the file unless err does (an
// *fs.PathError: a file that cannot be opened).
func fileError(flag, path string, err error) error {
	if _, ok := errors.AsType[*fs.PathError](err); ok {
		return fmt.Errorf("--%s: %w", flag, err)
	}
	return fmt.Errorf("--%s %q: %w", flag, path, err)
}

// readNonEmpty reads the file path, refusing one that cannot be read or
// holds only white space.
func readNonEmpty(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(string(b)) == "" {
		return nil, errors.New("empty file")
	}
	return b, nil
}

// checkCredsFile refuses a credentials file that is empty, or whose JWT
// or seed the NATS client cannot read, reading it once and parsing it as
// the client does at each connect (nkeys.ParseDecoratedJWT and
// ParseDecoratedNKey of the file's content).
func checkCredsFile(path string) error {
	b, err := readNonEmpty(path)
	if err != nil {
		return err
	}
	jwt, err := nkeys.ParseDecoratedJWT(b)
	if err != nil {
		return err
	}
	// nats.go takes a file without a decorated JWT whole as the JWT.
	if strings.Count(jwt, ".") != 2 || strings.ContainsAny(jwt, " \n") {
		return errors.New("no user JWT in it (want a credentials file as nsc writes: -----BEGIN NATS USER JWT-----)")
	}
	// The seed as the client's signature handler reads it, whose error
	// would name the file again (the caller names it).
	kp, err := nkeys.ParseDecoratedNKey(b)
	if err != nil {
		return fmt.Errorf("no user seed in it: %w", err)
	}
	kp.Wipe()
	return nil
}

// fileSecret is a password or token read from a file at each connect.
// The value read last stays in use while the file cannot be read (a
// Secret being replaced), with a WARN naming the flag and file.
type fileSecret struct {
	flag, path string
	logger     *slog.Logger
	mu         sync.Mutex
	last       string
}

// read reads the secret: the file's content without one trailing line
// end (echo and kubectl create secret --from-file leave one). An empty
// secret is an error.
func (s *fileSecret) read() (string, error) {
	b, err := os.ReadFile(s.path)
	if err != nil {
		return "", fileError(s.flag, s.path, err)
	}
	v := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if v == "" {
		return "", fmt.Errorf("--%s %q: empty file", s.flag, s.path)
	}
	return v, nil
}

// load reads the secret at the start, where an error is a start error.
func (s *fileSecret) load() error {
	v, err := s.read()
	if err != nil {
		return err
	}
	s.last = v
	return nil
}

// get reads the secret again (the NATS client calls it at each connect).
func (s *fileSecret) get() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.read()
	if err != nil {
		s.logger.Warn("NATS secret file unreadable: connecting with the value read before", "err", err)
		return s.last
	}
	s.last = v
	return v
}

// nkeySeed is the user NKey of --nats.nkey-seed-file, read at the start
// and used for every connect: the client presents the public key given
// to it once (nats.Nkey), so a seed rotated in place, signing with the
// new key while the old public key is presented, would be refused
// (Authorization Violation). At each connect the file is read again, and
// one WARN per new key says that it holds another one, which a restart
// applies.
type nkeySeed struct {
	path   string
	logger *slog.Logger
	pub    string
	kp     nkeys.KeyPair
	mu     sync.Mutex
	warned string // the file's public key last warned about
}

// readSeed reads the file's user NKey: an error for a file that cannot
// be read, is empty or holds no user seed.
func readSeed(path string) (nkeys.KeyPair, string, error) {
	b, err := readNonEmpty(path)
	if err != nil {
		return nil, "", err
	}
	kp, err := nkeys.ParseDecoratedNKey(b)
	if err != nil {
		return nil, "", fmt.Errorf("no user seed in it: %w", err)
	}
	pub, err := kp.PublicKey()
	if err != nil || !nkeys.IsValidPublicUserKey(pub) {
		kp.Wipe()
		return nil, "", errors.New("no user seed in it (want an NKey user seed: SU…)")
	}
	return kp, pub, nil
}

// load reads the key at the start, where an error is a start error.
func (s *nkeySeed) load() error {
	kp, pub, err := readSeed(s.path)
	if err != nil {
		return err
	}
	s.kp, s.pub, s.warned = kp, pub, pub
	return nil
}

// sign signs the server's nonce with the key read at the start (the
// NATS client calls it at each connect), after reading the file again
// to warn when it holds another key or cannot be read.
func (s *nkeySeed) sign(nonce []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	kp, pub, err := readSeed(s.path)
	switch {
	case err != nil:
		s.logger.Warn("NATS nkey seed file unreadable: connecting with the key read at the start",
			"err", fileError("nats.nkey-seed-file", s.path, err), "public_key", s.pub)
	case pub == s.pub:
		s.warned = pub
	case pub != s.warned:
		s.warned = pub
		s.logger.Warn("NATS nkey seed file holds another key: omen keeps connecting with the key read at the start; restart omen to use the new one",
			"file", s.path, "public_key", s.pub, "file_public_key", pub)
	}
	if kp != nil {
		kp.Wipe()
	}
	return s.kp.Sign(nonce)
}
