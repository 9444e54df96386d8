package scope

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/naq-io/naq/circuit"
	"github.com/naq-io/naq/instrument"
	"github.com/naq-io/naq/metrics"
)

// closeWait bounds the wait for nats.go's closed callback after a forced
// Close (the callback is queued, not run inline).
const closeWait = 5 * time.Second

// Pool shares one *nats.Conn per effective [Config] and counts references.
// [Pool.Acquire] hands out [*Scope]s; when the last scope of a connection
// is closed the connection stays open for the idle timeout and is then
// drained (or, with an idle timeout of 0, drained synchronously by that last
// [Scope.Close]). Draining waits for nats.go's closed callback, bounded by
// drain_timeout. [Pool.Close] drains every connection; later calls return
// [ErrPoolClosed]. A Pool is safe for concurrent use.
type Pool struct {
	idle     time.Duration
	retry    *RetryPolicy
	limiter  *Limiter // WithLimiter given to NewPool: every acquire's default
	observer func(DialEvent)
	natsOpts []nats.Option // WithNATSOptions, applied to every dial
	tel      *poolTelemetry

	mu     sync.Mutex
	conns  map[poolKey]*pooledConn
	closed bool
	bg     sync.WaitGroup // idle drains running in the background
}

// poolKey identifies an effective config. Every field is comparable, so the
// key is exact (no hashing, no collisions).
type poolKey struct {
	servers                                                string
	name                                                   string
	maxReconnect, maxPings                                 int
	reconnectWait, connTimeout, drainTimeout, flushTimeout time.Duration
	pingInterval                                           time.Duration
	tls                                                    TLSConfig
	auth                                                   AuthConfig
}

func keyOf(c *Config) poolKey {
	var servers string
	if len(c.Servers) == 1 {
		servers = c.Servers[0]
	} else {
		servers = strings.Join(c.Servers, "\x00")
	}
	return poolKey{
		servers: servers, name: c.ClientName,
		maxReconnect: c.MaxReconnectAttempts, maxPings: c.MaxOutstandingPings,
		reconnectWait: c.ReconnectTimeWait, connTimeout: c.ConnectionTimeout,
		drainTimeout: c.DrainTimeout, flushTimeout: c.FlushTimeout, pingInterval: c.PingInterval,
		tls: c.TLS, auth: c.Auth,
	}
}

// pooledConn is one shared connection.
type pooledConn struct {
	key    poolKey
	cfg    Config
	ready  chan struct{} // closed once the dial finished (nc or err set)
	err    error
	nc     *nats.Conn
	closed chan struct{} // closed by nats.go's ClosedHandler
	gate   *circuit.Gate // nil when the pool has no gates
	handle *connHandles

	// dialCtxEnded: the dial failed because the context of the caller that
	// dialed ended (set before ready closes); waiters then dial again.
	dialCtxEnded bool

	// guarded by Pool.mu
	refs     int
	timer    *time.Timer // idle timer, created once and re-armed
	idleAt   time.Time   // when refs last dropped to 0
	draining bool
}

// unusable reports whether a dialed connection has been closed by nats.go.
func (pc *pooledConn) unusable() bool {
	select {
	case <-pc.ready:
		return pc.nc != nil && pc.nc.IsClosed()
	default:
		return false
	}
}

// connHandles caches the per-connection instrumented handles.
type connHandles struct {
	jsOnce   sync.Once
	js       jetstream.JetStream
	jsErr    error
	connOnce sync.Once
	conn     *instrument.Conn
}

// NewPool returns an empty pool. Options ([PoolOption]): [WithIdleTimeout]
// (default [DefaultIdleTimeout]), [WithNATSOptions], [WithDialObserver],
// the telemetry and gate options, and the defaults of every acquire:
// [WithRetry] (default: one attempt) and [WithLimiter] (default: no
// limit). A negative idle timeout or an invalid retry policy returns an
// error matching [ErrInvalidOption].
func NewPool(opts ...PoolOption) (*Pool, error) {
	o := newOptions(opts)
	p := &Pool{idle: DefaultIdleTimeout, observer: o.observer, limiter: o.limiter, conns: make(map[poolKey]*pooledConn),
		natsOpts: append([]nats.Option(nil), o.natsOpts...)}
	if o.idle != nil {
		if *o.idle < 0 {
			return nil, invalidOption("scope.WithIdleTimeout", *o.idle, "a duration >= 0")
		}
		p.idle = *o.idle
	}
	if o.retry != nil {
		if err := o.retry.Validate(); err != nil {
			return nil, err
		}
		r := *o.retry
		p.retry = &r
	}
	tel, err := newPoolTelemetry(&o.telemetry)
	if err != nil {
		return nil, err
	}
	p.tel = tel
	return p, nil
}

// Recorder returns the metrics recorder the pool reports connection
// metrics to ([WithRecorder], or the pool's own); its Snapshot is the seed's
// get_connection_metrics for this pool.
func (p *Pool) Recorder() *metrics.Recorder { return p.tel.rec }

// Len returns the number of connections the pool holds (in use, idle or
// being dialed).
func (p *Pool) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// Acquire returns a scope on the pooled connection for cfg, dialing it if
// needed (through the pool's single dial path, with [WithRetry] if given).
// cfg is validated when a connection is dialed. Options ([AcquireOption]):
// [WithRetry] and [WithLimiter], replacing the pool's defaults for this
// call. Concurrent callers for one config share one dial; if it fails
// because the context of the caller running it ended, the others dial
// again under their own. Close the scope when done; it is released exactly
// once. A closed pool returns [ErrPoolClosed].
func (p *Pool) Acquire(ctx context.Context, cfg Config, opts ...AcquireOption) (*Scope, error) {
	var o *options
	if len(opts) > 0 {
		o = newOptions(opts)
	}
	return p.acquire(ctx, &cfg, o)
}

func (p *Pool) acquire(ctx context.Context, cfg *Config, o *options) (*Scope, error) {
	var release func()
	limiter := p.limiter
	if o != nil && o.limiterSet {
		limiter = o.limiter
	}
	if limiter != nil {
		r, err := limiter.Acquire(ctx)
		if err != nil {
			return nil, err
		}
		release = r
	}
	pc, err := p.get(ctx, cfg, o)
	if err != nil {
		if release != nil {
			release()
		}
		return nil, err
	}
	return &Scope{pool: p, pc: pc, limiterRelease: release}, nil
}

func (p *Pool) get(ctx context.Context, cfg *Config, o *options) (*pooledConn, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	key := keyOf(cfg)
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrPoolClosed
	}
	pc := p.conns[key]
	if pc != nil && pc.unusable() {
		// Closed underneath us (reconnects exhausted): forget it.
		delete(p.conns, key)
		pc = nil
	}
	if pc != nil {
		pc.refs++
		if pc.timer != nil {
			pc.timer.Stop()
		}
		p.mu.Unlock()
		select {
		case <-pc.ready:
		case <-ctx.Done():
			p.release(context.Background(), pc)
			return nil, ctx.Err()
		}
		if pc.err != nil {
			p.release(context.Background(), pc)
			if pc.dialCtxEnded && ctx.Err() == nil {
				// The dial ran under another caller's context, which ended;
				// ours has not: dial again (the failed entry is gone).
				return p.get(ctx, cfg, o)
			}
			return nil, pc.err
		}
		return pc, nil
	}
	pc = &pooledConn{key: key, cfg: cfg.Clone(), ready: make(chan struct{}), refs: 1, handle: &connHandles{}}
	p.conns[key] = pc
	p.mu.Unlock()

	retry := p.retry
	if o != nil && o.retry != nil {
		if err := o.retry.Validate(); err != nil {
			pc.err = err
		} else {
			retry = o.retry
		}
	}
	if pc.err == nil {
		pc.gate, pc.err = p.tel.gate(key, &pc.cfg)
	}
	if pc.err == nil {
		dialGate := pc.gate
		if o != nil && o.noGate {
			dialGate = nil // health checks measure the server, not the connect breaker
		}
		pc.nc, pc.closed, pc.err = p.dial(ctx, pc.cfg, retry, dialGate)
		if pc.err == nil && pc.gate != nil {
			pc.gate.Watch(pc.nc) // connection health for every handle of this connection
		}
	}
	if pc.err != nil {
		p.mu.Lock()
		if p.conns[key] == pc {
			delete(p.conns, key)
		}
		pc.refs--
		p.mu.Unlock()
		pc.dialCtxEnded = ctx.Err() != nil
		close(pc.ready)
		return nil, pc.err
	}
	close(pc.ready)
	return pc, nil
}

// release drops one reference; the last one drains now (idle 0, pool
// closing, or connection unusable) or arms the idle timer.
func (p *Pool) release(ctx context.Context, pc *pooledConn) error {
	p.mu.Lock()
	pc.refs--
	if pc.refs > 0 || pc.draining || pc.nc == nil {
		p.mu.Unlock()
		return nil
	}
	if p.idle > 0 && !p.closed && !pc.nc.IsClosed() && p.conns[pc.key] == pc {
		pc.idleAt = time.Now()
		if pc.timer == nil {
			pc.timer = time.AfterFunc(p.idle, func() { p.expire(pc) })
		} else {
			pc.timer.Reset(p.idle)
		}
		p.mu.Unlock()
		return nil
	}
	pc.draining = true
	if p.conns[pc.key] == pc {
		delete(p.conns, pc.key)
	}
	p.mu.Unlock()
	return p.drain(ctx, pc)
}

// expire drains an idle connection whose timer fired, unless it was
// reacquired or the pool is closing (Close drains it then).
func (p *Pool) expire(pc *pooledConn) {
	p.mu.Lock()
	if p.closed || pc.refs > 0 || pc.draining || p.conns[pc.key] != pc {
		p.mu.Unlock()
		return
	}
	if rest := p.idle - time.Since(pc.idleAt); rest > 0 {
		// Reacquired and released again after this timer fired: wait out
		// the new idle period.
		pc.timer.Reset(rest)
		p.mu.Unlock()
		return
	}
	pc.draining = true
	delete(p.conns, pc.key)
	p.bg.Add(1)
	p.mu.Unlock()
	defer p.bg.Done()
	_ = p.drain(context.Background(), pc)
}

// drain drains pc and waits until nats.go reports it closed, bounded by
// drain_timeout and ctx. On timeout the connection is closed hard and the
// error wraps context.DeadlineExceeded (or ctx's error).
func (p *Pool) drain(ctx context.Context, pc *pooledConn) error {
	ctx, cancel := context.WithTimeout(ctx, pc.cfg.DrainTimeout)
	defer cancel()
	if err := pc.nc.Drain(); err != nil {
		pc.nc.Close()
	}
	select {
	case <-pc.closed:
		return nil
	case <-ctx.Done():
	}
	pc.nc.Close()
	t := time.NewTimer(closeWait)
	defer t.Stop()
	select {
	case <-pc.closed:
	case <-t.C:
	}
	return fmt.Errorf("scope: drain %s: not closed within drain_timeout %v: %w",
		strings.Join(pc.cfg.Redacted().Servers, ","), pc.cfg.DrainTimeout, ctx.Err())
}

// Close drains every connection of the pool (in use or idle), waits for
// them to close (each bounded by its drain_timeout and ctx) and makes the
// pool unusable: later [Pool.Acquire] calls return [ErrPoolClosed]. Scopes
// still open keep their (now closed) connection; their Close is a no-op.
// Close is idempotent; it returns the drain errors joined.
func (p *Pool) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.bg.Wait()
		return nil
	}
	p.closed = true
	conns := make([]*pooledConn, 0, len(p.conns))
	for k, pc := range p.conns {
		delete(p.conns, k)
		if pc.timer != nil {
			pc.timer.Stop()
		}
		if !pc.draining {
			pc.draining = true
			conns = append(conns, pc)
		}
	}
	p.mu.Unlock()

	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, pc := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-pc.ready // a dial in flight finishes within connection_timeout
			if pc.nc == nil {
				return
			}
			if err := p.drain(ctx, pc); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	p.bg.Wait()
	p.tel.close()
	return errors.Join(errs...)
}

// Scope is one reference to a pooled connection. Get it from [Open] or
// [Pool.Acquire]; [Scope.Close] releases it. The accessors are safe for
// concurrent use; Close is idempotent.
type Scope struct {
	pool           *Pool
	pc             *pooledConn
	limiterRelease func()
	done           atomic.Bool
}

// Conn returns the pooled connection, instrumented: instrument.NewConn over
// it (publish, request and subscribe traced and metered, requests gated by
// the connection's gate, subscriptions tracked for the pending and dropped
// metrics), created once per connection and shared. *instrument.Conn
// embeds *nats.Conn, so every nats.go method is there. Do not close or
// drain it: it is shared; release it with [Scope.Close].
func (s *Scope) Conn() *instrument.Conn {
	h := s.pc.handle
	h.connOnce.Do(func() { h.conn = s.pool.tel.wrapConn(s.pc) })
	return h.conn
}

// RawConn returns the pooled *nats.Conn itself, uninstrumented: the escape
// hatch for code that must have a *nats.Conn. Calls made on it are neither
// traced, metered nor gated (connection metrics still cover it). Do not
// close or drain it; release it with [Scope.Close].
func (s *Scope) RawConn() *nats.Conn { return s.pc.nc }

// Gate returns the gate of the scope's connection config (its connect
// breaker, the connection-health layer watching the current connection and
// the destination breakers shared by its instrumented handles), or nil when
// the pool was created [WithoutGate].
func (s *Scope) Gate() *circuit.Gate { return s.pc.gate }

// Config returns the effective configuration of the connection (secrets
// included; print it, and it redacts itself).
func (s *Scope) Config() Config { return s.pc.cfg.Clone() }

// JetStream returns the instrumented JetStream handle of the pooled
// connection (instrument.NewJetStream, gated by the connection's gate),
// created once per connection and shared.
func (s *Scope) JetStream() (jetstream.JetStream, error) {
	h := s.pc.handle
	h.jsOnce.Do(func() {
		js, err := jetstream.New(s.pc.nc)
		if err != nil {
			h.jsErr = err
			return
		}
		h.js = s.pool.tel.wrapJetStream(s.pc, js)
	})
	return h.js, h.jsErr
}

// KeyValue binds the existing KeyValue bucket through the instrumented
// JetStream handle, so the bucket is instrumented too. A missing bucket
// returns jetstream.ErrBucketNotFound unchanged.
func (s *Scope) KeyValue(ctx context.Context, bucket string) (jetstream.KeyValue, error) {
	js, err := s.JetStream()
	if err != nil {
		return nil, err
	}
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		return nil, err
	}
	return kv, nil
}

// Close releases the scope. If it was the last reference and the pool's
// idle timeout is 0 (or the pool is closing), it drains the connection and
// waits until nats.go reports it closed, bounded by drain_timeout and ctx;
// otherwise it returns at once. A second Close is a no-op returning nil.
func (s *Scope) Close(ctx context.Context) error {
	if !s.done.CompareAndSwap(false, true) {
		return nil
	}
	err := s.pool.release(ctx, s.pc)
	if s.limiterRelease != nil {
		s.limiterRelease()
	}
	return err
}
