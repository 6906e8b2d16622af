package natsembed

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Options configure an embedded server.
type Options struct {
	// ListenAddress is host:port for client connections. Default
	// "127.0.0.1:4222"; a port of 0 (":0", "127.0.0.1:0") picks a random
	// free port. An empty host means 127.0.0.1 (never all interfaces by
	// default).
	ListenAddress string
	// StoreDir holds the JetStream file store. Required: it is where the
	// stream survives restarts.
	StoreDir string
	// Logger receives the server's log, at Debug for its debug output and
	// at the matching level otherwise. Nil discards it.
	Logger *slog.Logger
	// ReadyTimeout bounds start-up. Default 10s.
	ReadyTimeout time.Duration
	// MaxPayload is the largest message the server accepts, in bytes.
	// Default 8 MiB.
	MaxPayload int32
	// MaxMemory bounds JetStream's memory-storage streams, in bytes.
	// omen's streams use file storage, so this only caps streams an
	// operator adds. Default 64 MiB; -1 lets the server take 75 % of the
	// machine's memory (nats-server's own default).
	MaxMemory int64
	// MaxStore bounds JetStream's file storage, in bytes. Default -1:
	// the server's own limit (75 % of the free disk). Acknowledgements
	// remove nothing from omen's streams (JetStream's LimitsPolicy): only
	// a stream's max_age and max_bytes bound it (docs/PERFORMANCE.md,
	// Disk). A server-wide bound is no substitute: when full, the server
	// refuses the newest messages at the publishers rather than dropping
	// the oldest.
	MaxStore int64
}

// DefaultMaxMemory is Options.MaxMemory's default.
const DefaultMaxMemory = 64 << 20

// Server is a running embedded NATS server.
type Server struct {
	srv *server.Server
}

// Start starts a NATS server with JetStream and waits until it accepts
// connections. A listen address already in use fails at once with the
// bind error. Errors do not name the server or its address: the caller
// adds that context.
func Start(opts Options) (*Server, error) {
	if opts.ListenAddress == "" {
		opts.ListenAddress = "127.0.0.1:4222"
	}
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 10 * time.Second
	}
	if opts.MaxPayload == 0 {
		opts.MaxPayload = 8 << 20
	}
	if opts.MaxMemory == 0 {
		opts.MaxMemory = DefaultMaxMemory
	}
	if opts.MaxStore == 0 {
		opts.MaxStore = -1
	}
	if opts.MaxMemory < -1 || opts.MaxStore < -1 {
		return nil, errors.New("MaxMemory and MaxStore must be positive or -1")
	}
	if opts.StoreDir == "" {
		return nil, errors.New("StoreDir is required")
	}
	if opts.ReadyTimeout < 0 || opts.MaxPayload < 0 {
		return nil, errors.New("negative ReadyTimeout or MaxPayload")
	}
	host, portStr, err := net.SplitHostPort(opts.ListenAddress)
	if err != nil {
		return nil, fmt.Errorf("listen address %q: %w", opts.ListenAddress, err)
	}
	if host == "" {
		host = "127.0.0.1"
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("listen address %q: bad port", opts.ListenAddress)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	} else {
		// The server only logs a failed bind and then never becomes
		// ready: find out now, with the reason.
		ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			var op *net.OpError
			if errors.As(err, &op) {
				err = op.Err
			}
			return nil, fmt.Errorf("listen: %w", err)
		}
		_ = ln.Close()
	}
	sopts := &server.Options{
		ServerName: "omen-embedded",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   opts.StoreDir,
		MaxPayload: opts.MaxPayload,
		// JetStream keeps file-store blocks (8 MiB) it reads or writes in
		// memory and drops them after 10 s without access; there is no
		// server option for that, so the transient cost during a backlog
		// is about two blocks per stream being read and written.
		JetStreamMaxMemory: opts.MaxMemory,
		JetStreamMaxStore:  opts.MaxStore,
		NoSigs:             true,
		NoLog:              opts.Logger == nil,
	}
	srv, err := server.NewServer(sopts)
	if err != nil {
		return nil, fmt.Errorf("%w", err)
	}
	if opts.Logger != nil {
		srv.SetLoggerV2(slogAdapter{opts.Logger}, true, false, false)
	}
	srv.Start()
	if !srv.ReadyForConnections(opts.ReadyTimeout) {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, fmt.Errorf("not ready after %s", opts.ReadyTimeout)
	}
	if !srv.JetStreamEnabled() {
		srv.Shutdown()
		srv.WaitForShutdown()
		return nil, errors.New("JetStream not enabled")
	}
	return &Server{srv: srv}, nil
}

// ClientURL returns the nats:// URL clients connect to.
func (s *Server) ClientURL() string { return s.srv.ClientURL() }

// Shutdown stops the server and waits until it has stopped. It is safe to
// call more than once.
func (s *Server) Shutdown() {
	s.srv.Shutdown()
	s.srv.WaitForShutdown()
}

type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Noticef(format string, v ...any) { a.l.Info(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Warnf(format string, v ...any)   { a.l.Warn(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Fatalf(format string, v ...any)  { a.l.Error(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Errorf(format string, v ...any)  { a.l.Error(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Debugf(format string, v ...any)  { a.l.Debug(fmt.Sprintf(format, v...)) }
func (a slogAdapter) Tracef(format string, v ...any)  { a.l.Debug(fmt.Sprintf(format, v...)) }
