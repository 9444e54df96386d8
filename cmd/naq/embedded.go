package main

import (
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// embeddedServer is the demo's in-process nats-server with JetStream on a
// loopback port and a temporary store. Stop and Start keep the port and the
// store, so clients reconnect to the same place (the chaos schedule).
type embeddedServer struct {
	mu   sync.Mutex
	opts *server.Options
	srv  *server.Server
	dir  string
}

const embeddedReadyTimeout = 10 * time.Second

// startEmbedded starts a JetStream server on 127.0.0.1 (a free port) with a
// fresh store directory, removed again by shutdown.
func startEmbedded() (*embeddedServer, error) {
	dir, err := os.MkdirTemp("", "naq-demo-*")
	if err != nil {
		return nil, fmt.Errorf("embedded server: store dir: %w", err)
	}
	e := &embeddedServer{
		dir: dir,
		opts: &server.Options{
			ServerName: "naq-demo",
			Host:       "127.0.0.1",
			Port:       -1,
			NoLog:      true,
			NoSigs:     true,
			JetStream:  true,
			StoreDir:   dir,
			// The demo runs for a while; keep the store small.
			JetStreamMaxMemory: 64 << 20,
			JetStreamMaxStore:  256 << 20,
		},
	}
	if err := e.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	e.opts.Port = e.srv.Addr().(*net.TCPAddr).Port
	return e, nil
}

// Start starts the server if it is stopped.
func (e *embeddedServer) Start() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.srv != nil {
		return nil
	}
	srv, err := server.NewServer(e.opts.Clone())
	if err != nil {
		return fmt.Errorf("embedded server: %w", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(embeddedReadyTimeout) {
		srv.Shutdown()
		return fmt.Errorf("embedded server: not ready within %v", embeddedReadyTimeout)
	}
	e.srv = srv
	return nil
}

// Stop shuts the server down, keeping its port and store for Start.
func (e *embeddedServer) Stop() {
	e.mu.Lock()
	srv := e.srv
	e.srv = nil
	e.mu.Unlock()
	if srv != nil {
		srv.Shutdown()
		srv.WaitForShutdown()
	}
}

// Running reports whether the server is up.
func (e *embeddedServer) Running() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.srv != nil
}

// URL is the client URL, nats://127.0.0.1:<port>.
func (e *embeddedServer) URL() string {
	return fmt.Sprintf("nats://%s:%d", e.opts.Host, e.opts.Port)
}

// Version is the nats-server version.
func (e *embeddedServer) Version() string { return server.VERSION }

// StoreDir is the temporary JetStream store.
func (e *embeddedServer) StoreDir() string { return e.dir }

// Shutdown stops the server and removes its store.
func (e *embeddedServer) Shutdown() error {
	e.Stop()
	return os.RemoveAll(e.dir)
}
