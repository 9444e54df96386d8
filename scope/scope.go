package scope

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/naq-io/naq/instrument"
	"github.com/naq-io/naq/internal/version"
)

// ScopeName is the import path of this package, used as its
// instrumentation scope name.
const ScopeName = "github.com/naq-io/naq/scope"

// Version is the version of the scope package.
const Version = version.Version

var defaultPool struct {
	mu sync.Mutex
	p  *Pool
}

// DefaultPool returns the process-wide pool used by [Open] and the helpers
// when no [WithPool] is given (idle timeout [DefaultIdleTimeout], one dial
// attempt). It is created on first use and replaced after [Shutdown].
func DefaultPool() *Pool {
	defaultPool.mu.Lock()
	defer defaultPool.mu.Unlock()
	if defaultPool.p == nil {
		defaultPool.p, _ = NewPool() // no options: cannot fail
	}
	return defaultPool.p
}

// Shutdown drains every connection of the default pool (see [Pool.Close])
// and detaches it; the next helper call starts a fresh default pool. Call it
// once before the program exits (defer scope.Shutdown(ctx)).
func Shutdown(ctx context.Context) error {
	defaultPool.mu.Lock()
	p := defaultPool.p
	defaultPool.p = nil
	defaultPool.mu.Unlock()
	if p == nil {
		return nil
	}
	return p.Close(ctx)
}

// Open loads the effective config (see [Load]; a non-empty url is a
// comma-separated server list that overrides file and environment) and
// acquires a scope on the pooled connection for it from [WithPool] or the
// default pool. Close the scope when done:
//
//	s, err := scope.Open(ctx, "nats://127.0.0.1:4222")
//	if err != nil { return err }
//	defer s.Close(ctx)
//	err = s.Conn().Publish("greet", []byte("hi"))
func Open(ctx context.Context, url string, opts ...Option) (*Scope, error) {
	return openWith(ctx, url, newOptions(opts))
}

func openWith(ctx context.Context, url string, o *options) (*Scope, error) {
	cfg, err := o.loadConfig(url)
	if err != nil {
		return nil, err
	}
	p := o.pool
	if p == nil {
		p = DefaultPool()
	}
	return p.acquire(ctx, &cfg, o)
}

// errNilFn is a helper's error for a nil closure.
func errNilFn(helper string) error {
	return fmt.Errorf("%w: %s: fn is nil", ErrInvalidOption, helper)
}

// closeInto releases s after a helper's closure, joining a release error to
// the closure's. It runs deferred, so it also runs while a panic unwinds
// (the panic then continues) and on runtime.Goexit. The release is not
// cut short by ctx's cancellation; drain_timeout bounds it.
func (s *Scope) closeInto(ctx context.Context, err *error) {
	if cerr := s.Close(context.WithoutCancel(ctx)); cerr != nil {
		*err = errors.Join(*err, cerr)
	}
}

// Run opens a scope (see [Open]), calls fn with its connection and releases
// the scope when fn returns, returns an error or panics (the panic is
// re-raised after the release). It returns fn's error unchanged, joined
// with a release error if there was one. A nil fn returns an error matching
// [ErrInvalidOption] ("scope: invalid option: Run: fn is nil") without
// loading a config or dialing; so do the other helpers.
func Run(ctx context.Context, url string, fn func(context.Context, *nats.Conn) error, opts ...Option) error {
	if fn == nil {
		return errNilFn("Run")
	}
	_, err := Do(ctx, url, func(ctx context.Context, nc *nats.Conn) (struct{}, error) {
		return struct{}{}, fn(ctx, nc)
	}, opts...)
	return err
}

// Do is [Run] for a closure that returns a value.
func Do[T any](ctx context.Context, url string, fn func(context.Context, *nats.Conn) (T, error), opts ...Option) (v T, err error) {
	if fn == nil {
		return v, errNilFn("Do")
	}
	s, err := Open(ctx, url, opts...)
	if err != nil {
		return v, err
	}
	defer s.closeInto(ctx, &err)
	return fn(ctx, s.Conn())
}

// RunConn is [Run] with the instrumented connection ([Scope.Instrumented]):
// core publish, request and subscribe are traced and metered, and requests
// are gated by the connection's gate. *instrument.Conn embeds *nats.Conn.
func RunConn(ctx context.Context, url string, fn func(context.Context, *instrument.Conn) error, opts ...Option) error {
	if fn == nil {
		return errNilFn("RunConn")
	}
	_, err := DoConn(ctx, url, func(ctx context.Context, c *instrument.Conn) (struct{}, error) {
		return struct{}{}, fn(ctx, c)
	}, opts...)
	return err
}

// DoConn is [RunConn] for a closure that returns a value.
func DoConn[T any](ctx context.Context, url string, fn func(context.Context, *instrument.Conn) (T, error), opts ...Option) (v T, err error) {
	if fn == nil {
		return v, errNilFn("DoConn")
	}
	s, err := Open(ctx, url, opts...)
	if err != nil {
		return v, err
	}
	defer s.closeInto(ctx, &err)
	return fn(ctx, s.Instrumented())
}

// JetStream opens a scope (see [Open]) and calls fn with the pooled
// connection's instrumented JetStream handle, releasing the scope like
// [Run].
func JetStream(ctx context.Context, url string, fn func(context.Context, jetstream.JetStream) error, opts ...Option) error {
	if fn == nil {
		return errNilFn("JetStream")
	}
	_, err := DoJetStream(ctx, url, func(ctx context.Context, js jetstream.JetStream) (struct{}, error) {
		return struct{}{}, fn(ctx, js)
	}, opts...)
	return err
}

// DoJetStream is [JetStream] for a closure that returns a value.
func DoJetStream[T any](ctx context.Context, url string, fn func(context.Context, jetstream.JetStream) (T, error), opts ...Option) (v T, err error) {
	if fn == nil {
		return v, errNilFn("DoJetStream")
	}
	s, err := Open(ctx, url, opts...)
	if err != nil {
		return v, err
	}
	defer s.closeInto(ctx, &err)
	js, err := s.JetStream()
	if err != nil {
		return v, err
	}
	return fn(ctx, js)
}

// KeyValue opens a scope (see [Open]), binds the existing KeyValue bucket
// and calls fn with it, releasing the scope like [Run]. A missing bucket
// returns jetstream.ErrBucketNotFound unchanged (create buckets with
// [JetStream]).
func KeyValue(ctx context.Context, url, bucket string, fn func(context.Context, jetstream.KeyValue) error, opts ...Option) error {
	if fn == nil {
		return errNilFn("KeyValue")
	}
	_, err := DoKeyValue(ctx, url, bucket, func(ctx context.Context, kv jetstream.KeyValue) (struct{}, error) {
		return struct{}{}, fn(ctx, kv)
	}, opts...)
	return err
}

// DoKeyValue is [KeyValue] for a closure that returns a value.
func DoKeyValue[T any](ctx context.Context, url, bucket string, fn func(context.Context, jetstream.KeyValue) (T, error), opts ...Option) (v T, err error) {
	if fn == nil {
		return v, errNilFn("DoKeyValue")
	}
	s, err := Open(ctx, url, opts...)
	if err != nil {
		return v, err
	}
	defer s.closeInto(ctx, &err)
	kv, err := s.KeyValue(ctx, bucket)
	if err != nil {
		return v, err
	}
	return fn(ctx, kv)
}
