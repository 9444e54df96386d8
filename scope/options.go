package scope

import (
	"time"

	"github.com/nats-io/nats.go"
)

// Option configures [Load], [NewPool], [Pool.Acquire], [Open] and the scoped
// helpers. Each option says where it applies; elsewhere it is ignored.
// Options never fail on their own: values are checked where they are used
// (config fields by [Config.Validate], pool and retry values by [NewPool] /
// [Pool.Acquire], which return errors matching [ErrInvalidOption]).
type Option interface{ apply(*options) }

type optionFunc func(*options)

func (f optionFunc) apply(o *options) { f(o) }

type options struct {
	// configuration layers
	base      *Config
	file      *string
	profile   *string
	lookup    func(string) (string, bool)
	lookupSet bool
	edits     []func(*Config)

	// pool and acquire
	pool     *Pool
	idle     *time.Duration
	retry    *RetryPolicy
	limiter  *Limiter
	observer func(DialEvent)
	natsOpts []nats.Option

	// health checker
	onCheck func(HealthResult)
	noGate  bool // dial without consulting (or feeding) the gate's connect breaker

	telemetry telemetryOptions
}

func newOptions(opts []Option) *options {
	o := &options{}
	for _, opt := range opts {
		if opt != nil {
			opt.apply(o)
		}
	}
	return o
}

// WithConfigFile names the YAML config file, overriding $NAQ_CONFIG. An
// empty path means no file. Applies to [Load] and every helper that loads a
// config.
func WithConfigFile(path string) Option {
	return optionFunc(func(o *options) { o.file = &path })
}

// WithProfile selects the profile under `profiles:` to overlay on the
// file's `nats:` section, overriding $NAQ_PROFILE. An empty name means no
// profile. Applies wherever a config is loaded.
func WithProfile(name string) Option {
	return optionFunc(func(o *options) { o.profile = &name })
}

// WithLookupEnv replaces os.LookupEnv for reading NAQ_* variables, so tests
// need not touch the process environment. A nil func disables the
// environment layer (NAQ_CONFIG and NAQ_PROFILE included).
func WithLookupEnv(lookup func(string) (string, bool)) Option {
	return optionFunc(func(o *options) { o.lookup, o.lookupSet = lookup, true })
}

// WithConfig uses cfg instead of defaults, file, profile and environment;
// explicit options still apply on top. Use it to reuse a config loaded once.
func WithConfig(cfg Config) Option {
	c := cfg.Clone()
	return optionFunc(func(o *options) { o.base = &c })
}

// WithConfigEdit applies fn to the loaded config, after the environment,
// like the other explicit options (in the order given). A nil fn is ignored.
func WithConfigEdit(fn func(*Config)) Option {
	return optionFunc(func(o *options) {
		if fn != nil {
			o.edits = append(o.edits, fn)
		}
	})
}

func edit(fn func(*Config)) Option { return WithConfigEdit(fn) }

// WithServers sets the server URLs explicitly (highest precedence).
func WithServers(urls ...string) Option {
	u := append([]string(nil), urls...)
	return edit(func(c *Config) { c.Servers = append([]string(nil), u...) })
}

// WithClientName sets client_name explicitly.
func WithClientName(name string) Option {
	return edit(func(c *Config) { c.ClientName = name })
}

// WithMaxReconnectAttempts sets max_reconnect_attempts explicitly (-1 =
// forever).
func WithMaxReconnectAttempts(n int) Option {
	return edit(func(c *Config) { c.MaxReconnectAttempts = n })
}

// WithReconnectTimeWait sets reconnect_time_wait explicitly.
func WithReconnectTimeWait(d time.Duration) Option {
	return edit(func(c *Config) { c.ReconnectTimeWait = d })
}

// WithConnectionTimeout sets connection_timeout explicitly.
func WithConnectionTimeout(d time.Duration) Option {
	return edit(func(c *Config) { c.ConnectionTimeout = d })
}

// WithDrainTimeout sets drain_timeout explicitly.
func WithDrainTimeout(d time.Duration) Option {
	return edit(func(c *Config) { c.DrainTimeout = d })
}

// WithFlushTimeout sets flush_timeout explicitly.
func WithFlushTimeout(d time.Duration) Option {
	return edit(func(c *Config) { c.FlushTimeout = d })
}

// WithPingInterval sets ping_interval explicitly.
func WithPingInterval(d time.Duration) Option {
	return edit(func(c *Config) { c.PingInterval = d })
}

// WithMaxOutstandingPings sets max_outstanding_pings explicitly.
func WithMaxOutstandingPings(n int) Option {
	return edit(func(c *Config) { c.MaxOutstandingPings = n })
}

// WithTLS replaces the tls section explicitly.
func WithTLS(t TLSConfig) Option {
	return edit(func(c *Config) { c.TLS = t })
}

// WithUserPassword authenticates with user and password, replacing any
// other auth method from lower layers.
func WithUserPassword(user, password string) Option {
	return edit(func(c *Config) { c.Auth = AuthConfig{User: user, Password: Secret(password)} })
}

// WithToken authenticates with a token, replacing any other auth method.
func WithToken(token string) Option {
	return edit(func(c *Config) { c.Auth = AuthConfig{Token: Secret(token)} })
}

// WithNKeySeedFile authenticates with the nkey seed in path, replacing any
// other auth method.
func WithNKeySeedFile(path string) Option {
	return edit(func(c *Config) { c.Auth = AuthConfig{NKeySeedFile: path} })
}

// WithCredsFile authenticates with a .creds file (JWT + seed), replacing
// any other auth method.
func WithCredsFile(path string) Option {
	return edit(func(c *Config) { c.Auth = AuthConfig{CredsFile: path} })
}

// WithPool makes [Open], the scoped helpers, [Health], [WaitReady] and
// [NewHealthChecker] use p instead of the default pool. A nil p means the
// default pool.
func WithPool(p *Pool) Option {
	return optionFunc(func(o *options) { o.pool = p })
}

// DefaultIdleTimeout is how long a pooled connection stays open after its
// last release, so that scoping in a loop reuses one connection.
const DefaultIdleTimeout = 5 * time.Second

// WithIdleTimeout sets how long [NewPool]'s connections stay open after
// their last release (default [DefaultIdleTimeout]). 0 drains on the last
// [Scope.Close], synchronously; negative values make NewPool fail with
// [ErrInvalidOption]. Applies to NewPool only.
func WithIdleTimeout(d time.Duration) Option {
	return optionFunc(func(o *options) { o.idle = &d })
}

// WithNATSOptions adds nats.go connect options to every connection
// [NewPool] dials, for what the config does not cover (error, disconnect
// and reconnect handlers, buffer sizes, a custom dialer). They apply after
// the config's own options, so on a conflict they win; a
// nats.ClosedHandler given here still runs (the pool chains it with its
// own, which waits for the close). Options repeat across calls
// (appended). Applies to NewPool only: the pool is keyed by config, and
// options are functions that cannot be compared.
func WithNATSOptions(opts ...nats.Option) Option {
	return optionFunc(func(o *options) { o.natsOpts = append(o.natsOpts, opts...) })
}

// WithRetry retries failed connection attempts with p (see [Retry]) when a
// pool dials. Given to [NewPool] it is the pool's default; given to
// [Pool.Acquire], [Open] or a helper it applies to that call. The default is
// a single attempt. Authorization failures, invalid config and an open
// circuit are never retried.
func WithRetry(p RetryPolicy) Option {
	return optionFunc(func(o *options) { o.retry = &p })
}

// WithLimiter makes [Pool.Acquire], [Open] and the helpers take a slot from
// l for the scope's lifetime (released by [Scope.Close]). A nil l means no
// limit.
func WithLimiter(l *Limiter) Option {
	return optionFunc(func(o *options) { o.limiter = l })
}

// WithDialObserver calls fn after every connection attempt a pool makes
// (success or failure) with its duration and outcome. fn must be quick and
// safe for concurrent use. Applies to [NewPool]; nil is ignored.
func WithDialObserver(fn func(DialEvent)) Option {
	return optionFunc(func(o *options) { o.observer = fn })
}

// WithOnCheck calls fn after every check of a [HealthChecker]. Applies to
// [NewHealthChecker]; nil is ignored.
func WithOnCheck(fn func(HealthResult)) Option {
	return optionFunc(func(o *options) { o.onCheck = fn })
}
