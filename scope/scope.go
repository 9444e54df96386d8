package scope

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/naq-io/naq/instrument"
	"github.com/naq-io/naq/internal/version"
)

// ScopeName is the instrumentation scope name of every naq tracer and meter
// (the module path, the same in every naq package).
const ScopeName = version.ScopeName

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
//	err = s.Conn().Publish("greet", []byte("hi")) // traced and metered
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

// Run opens a scope (see [Open]), calls fn with its instrumented
// connection ([Scope.Conn]: core publish, request and subscribe are traced
// and metered, requests are gated by the connection's gate) and releases
// the scope when fn returns, returns an error or panics (the panic is
// re-raised after the release). It returns fn's error unchanged, joined
// with a release error if there was one. *instrument.Conn embeds
// *nats.Conn, so every nats.go method is there; nc.Conn() is the raw
// *nats.Conn, for code that must have one. A nil fn returns an error
// matching [ErrInvalidOption] ("scope: invalid option: Run: fn is nil")
// without loading a config or dialing; so do the other helpers.
func Run(ctx context.Context, url string, fn func(ctx context.Context, nc *instrument.Conn) error, opts ...Option) error {
	return run(ctx, url, "Run", (*Scope).conn, fn, opts)
}

// Do is [Run] for a closure that returns a value.
func Do[T any](ctx context.Context, url string, fn func(ctx context.Context, nc *instrument.Conn) (T, error), opts ...Option) (T, error) {
	return do(ctx, url, "Do", (*Scope).conn, fn, opts)
}

// JetStream opens a scope (see [Open]) and calls fn with the pooled
// connection's instrumented JetStream handle ([Scope.JetStream]),
// releasing the scope like [Run].
func JetStream(ctx context.Context, url string, fn func(ctx context.Context, js jetstream.JetStream) error, opts ...Option) error {
	return run(ctx, url, "JetStream", (*Scope).jetStream, fn, opts)
}

// DoJetStream is [JetStream] for a closure that returns a value.
func DoJetStream[T any](ctx context.Context, url string, fn func(ctx context.Context, js jetstream.JetStream) (T, error), opts ...Option) (T, error) {
	return do(ctx, url, "DoJetStream", (*Scope).jetStream, fn, opts)
}

// KeyValue opens a scope (see [Open]), binds the existing KeyValue bucket
// through the instrumented JetStream handle ([Scope.KeyValue]) and calls fn
// with it, releasing the scope like [Run]. A missing bucket returns
// jetstream.ErrBucketNotFound unchanged (create buckets with [JetStream]).
func KeyValue(ctx context.Context, url, bucket string, fn func(ctx context.Context, kv jetstream.KeyValue) error, opts ...Option) error {
	return run(ctx, url, "KeyValue", bucketOf(bucket), fn, opts)
}

// DoKeyValue is [KeyValue] for a closure that returns a value.
func DoKeyValue[T any](ctx context.Context, url, bucket string, fn func(ctx context.Context, kv jetstream.KeyValue) (T, error), opts ...Option) (T, error) {
	return do(ctx, url, "DoKeyValue", bucketOf(bucket), fn, opts)
}

// handleOf gets a helper's handle from its scope.
type handleOf[H any] func(*Scope, context.Context) (H, error)

func (s *Scope) conn(context.Context) (*instrument.Conn, error)         { return s.Conn(), nil }
func (s *Scope) jetStream(context.Context) (jetstream.JetStream, error) { return s.JetStream() }

func bucketOf(bucket string) handleOf[jetstream.KeyValue] {
	return func(s *Scope, ctx context.Context) (jetstream.KeyValue, error) { return s.KeyValue(ctx, bucket) }
}

// do is every helper: it opens a scope, gets its handle, calls fn with it
// and releases the scope when fn returns or panics.
func do[H, T any](ctx context.Context, url, helper string, handle handleOf[H],
	fn func(context.Context, H) (T, error), opts []Option) (v T, err error) {
	if fn == nil {
		return v, errNilFn(helper)
	}
	s, err := Open(ctx, url, opts...)
	if err != nil {
		return v, err
	}
	defer s.closeInto(ctx, &err)
	h, err := handle(s, ctx)
	if err != nil {
		return v, err
	}
	return fn(ctx, h)
}

// run is do for a closure without a value.
func run[H any](ctx context.Context, url, helper string, handle handleOf[H],
	fn func(context.Context, H) error, opts []Option) error {
	if fn == nil {
		return errNilFn(helper)
	}
	_, err := do(ctx, url, helper, handle, func(ctx context.Context, h H) (struct{}, error) {
		return struct{}{}, fn(ctx, h)
	}, opts)
	return err
}
