package scope

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/naq-io/naq/circuit"
)

// DialEvent describes one connection attempt made by a [Pool]; see
// [WithDialObserver]. It holds no secrets: server URLs are redacted.
type DialEvent struct {
	// Servers is the redacted server list dialed.
	Servers []string
	// ClientName is the configured connection name.
	ClientName string
	// Attempt is the 1-based attempt number within one acquire (retries
	// increase it).
	Attempt int
	// Duration is how long the attempt took.
	Duration time.Duration
	// ConnectedURL is the redacted URL connected to (empty on failure).
	ConnectedURL string
	// Err is nil on success, else the attempt's error.
	Err error
}

// dial is the single path every pooled connection attempt takes: the
// gate's connect breaker, the connect itself, telemetry and the dial observer all
// hang off it. With a retry policy, failed attempts are retried (never for
// permanent errors: invalid config, authorization failures, open circuit).
func (p *Pool) dial(ctx context.Context, cfg Config, retry *RetryPolicy, g *circuit.Gate) (*nats.Conn, chan struct{}, error) {
	type result struct {
		nc     *nats.Conn
		closed chan struct{}
	}
	attempt := 0
	once := func(ctx context.Context) (result, error) {
		attempt++
		nc, closed, err := p.dialOnce(ctx, cfg, attempt, g)
		return result{nc, closed}, err
	}
	var (
		r   result
		err error
	)
	if retry == nil {
		r, err = once(ctx)
	} else {
		r, err = RetryValue(ctx, *retry, once)
	}
	return r.nc, r.closed, err
}

func (p *Pool) dialOnce(ctx context.Context, cfg Config, attempt int, g *circuit.Gate) (*nats.Conn, chan struct{}, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	opts, err := cfg.NATSOptions()
	if err != nil {
		return nil, nil, err
	}
	opts = append(opts, p.natsOpts...)
	userClosed := closedHandlerOf(p.natsOpts)
	closed := make(chan struct{})
	var closeOnce sync.Once
	// The pool enforces drain_timeout itself (and waits for the closed
	// callback); nats.go's own drain timer only backs it up.
	opts = append(opts, nats.DrainTimeout(cfg.DrainTimeout+closeWait))
	opts = append(opts, nats.ClosedHandler(func(nc *nats.Conn) {
		if userClosed != nil {
			userClosed(nc)
		}
		closeOnce.Do(func() { close(closed) })
	}))
	if dl, ok := ctx.Deadline(); ok {
		rem := time.Until(dl)
		if rem <= 0 {
			return nil, nil, context.DeadlineExceeded
		}
		if rem < cfg.ConnectionTimeout {
			opts = append(opts, nats.Timeout(rem))
		}
	}
	opts = append(opts, p.tel.natsOptions(&cfg)...)

	nc, d, err := p.tel.dial(ctx, g, &cfg, func() (*nats.Conn, error) {
		nc, err := nats.Connect(cfg.url(), opts...)
		if err != nil {
			return nil, &ConnectError{Servers: cfg.Redacted().Servers, Err: err, auth: isAuthError(err)}
		}
		return nc, nil
	})
	p.observe(cfg, attempt, d, nc, err)
	if err != nil {
		return nil, nil, err
	}
	return nc, closed, nil
}

func (p *Pool) observe(cfg Config, attempt int, d time.Duration, nc *nats.Conn, err error) {
	if p.observer == nil {
		return
	}
	ev := DialEvent{Servers: cfg.Redacted().Servers, ClientName: cfg.ClientName, Attempt: attempt, Duration: d, Err: err}
	if nc != nil {
		ev.ConnectedURL = nc.ConnectedUrlRedacted()
	}
	p.observer(ev)
}

// closedHandlerOf returns the closed handler that opts set, if any, so the
// pool's own handler (which must stay last) can call it.
func closedHandlerOf(opts []nats.Option) nats.ConnHandler {
	if len(opts) == 0 {
		return nil
	}
	var no nats.Options
	for _, opt := range opts {
		if opt != nil {
			_ = opt(&no) // only to read what they set; errors surface at connect
		}
	}
	return no.ClosedCB
}
