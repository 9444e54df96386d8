// Package natstest starts real embedded nats-server instances for tests:
// a single JetStream server on a free loopback port with a temporary store,
// or a three-node JetStream cluster on loopback. Servers can be stopped and
// restarted (same port, same store) to simulate outages.
//
// Nothing in naq's tests mocks NATS: every test package uses this harness.
package natstest

import (
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// readyTimeout bounds how long a server may take to accept connections.
const readyTimeout = 10 * time.Second

// Option adjusts the server options before start (TLS, auth, limits, ...).
type Option func(*server.Options)

// WithoutJetStream starts the server without JetStream.
func WithoutJetStream() Option { return func(o *server.Options) { o.JetStream = false } }

// WithoutHeaders starts the server with message headers disabled
// (NoHeaderSupport): clients see HeadersSupported() == false and nats.go
// rejects any message carrying a header with nats.ErrHeadersNotSupported.
func WithoutHeaders() Option { return func(o *server.Options) { o.NoHeaderSupport = true } }

// Server is an embedded nats-server that can be stopped and restarted on the
// same port with the same JetStream store. It is safe for concurrent use.
type Server struct {
	tb   testing.TB
	mu   sync.Mutex
	opts *server.Options
	srv  *server.Server
}

// RunServer starts a JetStream-enabled server on a free loopback port with a
// store under tb.TempDir() and shuts it down in tb.Cleanup.
func RunServer(tb testing.TB, opts ...Option) *Server {
	tb.Helper()
	o := &server.Options{
		Host:      "127.0.0.1",
		Port:      -1,
		NoLog:     true,
		NoSigs:    true,
		JetStream: true,
		StoreDir:  tb.TempDir(),
	}
	for _, opt := range opts {
		opt(o)
	}
	s := &Server{tb: tb, opts: o}
	s.start()
	// Pin the port so a restart comes back where clients expect it.
	s.opts.Port = s.srv.Addr().(*net.TCPAddr).Port
	tb.Cleanup(s.Shutdown)
	return s
}

func (s *Server) start() {
	s.tb.Helper()
	srv, err := server.NewServer(s.opts.Clone())
	if err != nil {
		s.tb.Fatalf("natstest: new server: %v", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(readyTimeout) {
		srv.Shutdown()
		s.tb.Fatalf("natstest: server not ready within %v", readyTimeout)
	}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
}

// URL is the client URL, e.g. nats://127.0.0.1:41234 (tls:// when TLS is on).
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	scheme := "nats"
	if s.opts.TLSConfig != nil {
		scheme = "tls"
	}
	return fmt.Sprintf("%s://%s:%d", scheme, s.opts.Host, s.opts.Port)
}

// Port is the server's client port.
func (s *Server) Port() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opts.Port
}

// Options returns a copy of the options the server runs with.
func (s *Server) Options() *server.Options {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.opts.Clone()
}

// NATS returns the running nats-server (nil while stopped).
func (s *Server) NATS() *server.Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.srv
}

// Running reports whether the server is up.
func (s *Server) Running() bool { return s.NATS() != nil }

// NumClients is the number of client connections the server holds (0 while
// stopped).
func (s *Server) NumClients() int {
	if srv := s.NATS(); srv != nil {
		return srv.NumClients()
	}
	return 0
}

// Stop shuts the server down and waits until it has exited. Restart brings it
// back on the same port with the same store.
func (s *Server) Stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}

// Restart starts a stopped server again (stopping it first if needed).
func (s *Server) Restart() {
	s.tb.Helper()
	s.Stop()
	s.start()
}

// Shutdown stops the server for good; it is registered with tb.Cleanup.
func (s *Server) Shutdown() { s.Stop() }

// Cluster is a three-node (or n-node) JetStream cluster on loopback.
type Cluster struct {
	Servers []*Server
}

// RunCluster starts n JetStream servers routed into one cluster and waits for a
// JetStream meta leader. n must be at least 1.
func RunCluster(tb testing.TB, n int, opts ...Option) *Cluster {
	tb.Helper()
	if n < 1 {
		tb.Fatalf("natstest: cluster size %d, want >= 1", n)
	}
	clientPorts := freePorts(tb, n)
	clusterPorts := freePorts(tb, n)
	routes := make([]string, n)
	for i, p := range clusterPorts {
		routes[i] = fmt.Sprintf("nats-route://127.0.0.1:%d", p)
	}
	c := &Cluster{}
	for i := 0; i < n; i++ {
		i := i
		all := append([]Option{func(o *server.Options) {
			o.Port = clientPorts[i]
			o.ServerName = fmt.Sprintf("naq-%d", i)
			o.Cluster.Name = "naq-test"
			o.Cluster.Host = "127.0.0.1"
			o.Cluster.Port = clusterPorts[i]
			o.Routes = server.RoutesFromStr(strings.Join(routes, ","))
		}}, opts...)
		c.Servers = append(c.Servers, RunServer(tb, all...))
	}
	c.waitForMetaLeader(tb)
	return c
}

// URLs is the comma-separated client URL list of all servers.
func (c *Cluster) URLs() string {
	urls := make([]string, len(c.Servers))
	for i, s := range c.Servers {
		urls[i] = s.URL()
	}
	return strings.Join(urls, ",")
}

// Stop stops server i; Restart(i) brings it back.
func (c *Cluster) Stop(i int) { c.Servers[i].Stop() }

// Restart restarts server i on its port with its store.
func (c *Cluster) Restart(i int) { c.Servers[i].Restart() }

func (c *Cluster) waitForMetaLeader(tb testing.TB) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		for _, s := range c.Servers {
			if srv := s.NATS(); srv != nil && srv.JetStreamIsLeader() {
				return
			}
		}
		if len(c.Servers) == 1 || !c.Servers[0].opts.JetStream {
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
	tb.Fatalf("natstest: no JetStream meta leader elected within 20s")
}

// freePorts reserves n distinct free loopback TCP ports.
func freePorts(tb testing.TB, n int) []int {
	tb.Helper()
	ports := make([]int, 0, n)
	ls := make([]net.Listener, 0, n)
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("natstest: reserve port: %v", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		_ = l.Close()
	}
	return ports
}
