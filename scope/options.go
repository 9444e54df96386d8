package scope

import (
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// The options of this package form one family: every option is built by a
// With* function and applies to one internal set of settings, and each
// function accepts only the kinds of option it honours, so an option it
// would ignore does not compile there (see the package documentation,
// "Options"). The kinds are interfaces with unexported marker methods; one
// option value may implement several.

// Option configures [Open], the scoped helpers ([Run], [Do], [JetStream],
// [DoJetStream], [KeyValue], [DoKeyValue]), [Health] and [WaitReady]: the
// config they load (every [LoadOption]), the pool they use ([WithPool]) and
// the acquire (every [AcquireOption]). Every Option is also a
// [HealthCheckerOption]. Options never fail on their own: values are
// checked where they are used (config fields as [Load] does, a retry
// policy when a dial needs it).
type Option interface {
	HealthCheckerOption
	openOption()
}

// LoadOption configures how a [Config] is loaded: the file, the profile,
// the environment and the explicit field settings (see [Load] for the
// precedence). Every LoadOption is also an [Option], so the functions that
// load a config ([Open], the helpers, [Health], [WaitReady],
// [NewHealthChecker]) accept it too.
type LoadOption interface {
	Option
	loadOption()
}

// AcquireOption configures the acquire of one scope: [Pool.Acquire], and,
// as an [Option], [Open] and the helpers. It is also a [PoolOption]: given
// to [NewPool] it is the pool's default for every acquire.
type AcquireOption interface {
	Option
	PoolOption
	acquireOption()
}

// PoolOption configures [NewPool]: the idle timeout, nats.go options, the
// dial observer, telemetry and the gate, and the defaults of every
// [AcquireOption].
type PoolOption interface {
	apply(*options)
	poolOption()
}

// HealthCheckerOption configures [NewHealthChecker]: every [Option], and
// [WithOnCheck].
type HealthCheckerOption interface {
	apply(*options)
	healthCheckerOption()
}

// applyFunc applies an option; the marker types below say which kinds it
// belongs to.
type applyFunc func(*options)

func (f applyFunc) apply(o *options) { f(o) }

type (
	checkerKind struct{}
	openKind    struct{}
	loadKind    struct{}
	poolKind    struct{}
	acquireKind struct{}
)

func (checkerKind) healthCheckerOption() {}
func (openKind) openOption()             {}
func (loadKind) loadOption()             {}
func (poolKind) poolOption()             {}
func (acquireKind) acquireOption()       {}

// The concrete option types, one per combination of kinds.
type (
	loadOpt struct {
		applyFunc
		checkerKind
		openKind
		loadKind
	}
	openOpt struct {
		applyFunc
		checkerKind
		openKind
	}
	acquireOpt struct {
		applyFunc
		checkerKind
		openKind
		poolKind
		acquireKind
	}
	poolOpt struct {
		applyFunc
		poolKind
	}
	checkerOpt struct {
		applyFunc
		checkerKind
	}
)

var (
	_ LoadOption          = loadOpt{}
	_ Option              = openOpt{}
	_ AcquireOption       = acquireOpt{}
	_ PoolOption          = poolOpt{}
	_ HealthCheckerOption = checkerOpt{}
)

type options struct {
	// configuration layers
	base      *Config
	file      *string
	profile   *string
	lookup    func(string) (string, bool)
	lookupSet bool
	edits     []edit

	// pool and acquire
	pool       *Pool
	idle       *time.Duration
	retry      *RetryPolicy
	limiter    *Limiter
	limiterSet bool
	observer   func(DialEvent)
	natsOpts   []nats.Option

	// health checker
	onCheck func(HealthResult)
	noGate  bool // dial without consulting (or feeding) the gate's connect breaker

	telemetry telemetryOptions
}

// edit is one explicit config option: the name a user calls it by (named
// as the source of the fields it sets in a [*ConfigError]), the fields it
// sets (their paths under nats:; nil for WithConfigEdit, whose fields are
// the ones it changed) and the change.
type edit struct {
	name string
	keys []string
	fn   func(*Config)
}

func newOptions[O interface{ apply(*options) }](opts []O) *options {
	o := &options{}
	for _, opt := range opts {
		if any(opt) != nil {
			opt.apply(o)
		}
	}
	return o
}

// Option names, as errors show them.
const (
	nameWithConfig     = "scope.WithConfig"
	nameWithConfigFile = "scope.WithConfigFile"
	nameWithProfile    = "scope.WithProfile"
	nameWithConfigEdit = "scope.WithConfigEdit"
)

// configOption is an explicit config option called name that sets the
// fields keys with fn.
func configOption(name string, keys []string, fn func(*Config)) LoadOption {
	e := edit{name: name, keys: keys, fn: fn}
	return loadOpt{applyFunc: func(o *options) { o.edits = append(o.edits, e) }}
}

// The fields of the tls and auth sections, which WithTLS and the auth
// options replace as a whole.
var (
	tlsKeys  = keysUnder("tls.")
	authKeys = keysUnder("auth.")
)

func keysUnder(prefix string) []string {
	var keys []string
	for _, l := range leafSpecs {
		if strings.HasPrefix(l.key, prefix) {
			keys = append(keys, l.key)
		}
	}
	return keys
}

// WithConfigFile names the YAML config file, overriding $NAQ_CONFIG. An
// empty path means no file.
func WithConfigFile(path string) LoadOption {
	return loadOpt{applyFunc: func(o *options) { o.file = &path }}
}

// WithProfile selects the profile under `profiles:` to overlay on the
// file's `nats:` section, overriding $NAQ_PROFILE. An empty name means no
// profile.
func WithProfile(name string) LoadOption {
	return loadOpt{applyFunc: func(o *options) { o.profile = &name }}
}

// WithLookupEnv replaces os.LookupEnv for reading NAQ_* variables, so tests
// need not touch the process environment. A nil func disables the
// environment layer (NAQ_CONFIG and NAQ_PROFILE included).
func WithLookupEnv(lookup func(string) (string, bool)) LoadOption {
	return loadOpt{applyFunc: func(o *options) { o.lookup, o.lookupSet = lookup, true }}
}

// WithConfig uses cfg instead of defaults, file, profile and environment;
// explicit options still apply on top. Use it to reuse a config loaded once.
func WithConfig(cfg Config) LoadOption {
	c := cfg.Clone()
	return loadOpt{applyFunc: func(o *options) { o.base = &c }}
}

// WithConfigEdit applies fn to the loaded config, after the environment,
// like the other explicit options (in the order given). A nil fn is ignored.
func WithConfigEdit(fn func(*Config)) LoadOption {
	if fn == nil {
		return loadOpt{applyFunc: func(*options) {}}
	}
	return configOption(nameWithConfigEdit, nil, fn)
}

// WithServers sets the server URLs explicitly (highest precedence).
func WithServers(urls ...string) LoadOption {
	u := append([]string(nil), urls...)
	return configOption("scope.WithServers", []string{"servers"},
		func(c *Config) { c.Servers = append([]string(nil), u...) })
}

// WithClientName sets client_name explicitly.
func WithClientName(name string) LoadOption {
	return configOption("scope.WithClientName", []string{"client_name"}, func(c *Config) { c.ClientName = name })
}

// WithMaxReconnectAttempts sets max_reconnect_attempts explicitly (-1 =
// forever).
func WithMaxReconnectAttempts(n int) LoadOption {
	return configOption("scope.WithMaxReconnectAttempts", []string{"max_reconnect_attempts"},
		func(c *Config) { c.MaxReconnectAttempts = n })
}

// WithReconnectTimeWait sets reconnect_time_wait explicitly.
func WithReconnectTimeWait(d time.Duration) LoadOption {
	return configOption("scope.WithReconnectTimeWait", []string{"reconnect_time_wait"},
		func(c *Config) { c.ReconnectTimeWait = d })
}

// WithConnectionTimeout sets connection_timeout explicitly.
func WithConnectionTimeout(d time.Duration) LoadOption {
	return configOption("scope.WithConnectionTimeout", []string{"connection_timeout"},
		func(c *Config) { c.ConnectionTimeout = d })
}

// WithDrainTimeout sets drain_timeout explicitly.
func WithDrainTimeout(d time.Duration) LoadOption {
	return configOption("scope.WithDrainTimeout", []string{"drain_timeout"}, func(c *Config) { c.DrainTimeout = d })
}

// WithFlushTimeout sets flush_timeout explicitly.
func WithFlushTimeout(d time.Duration) LoadOption {
	return configOption("scope.WithFlushTimeout", []string{"flush_timeout"}, func(c *Config) { c.FlushTimeout = d })
}

// WithPingInterval sets ping_interval explicitly.
func WithPingInterval(d time.Duration) LoadOption {
	return configOption("scope.WithPingInterval", []string{"ping_interval"}, func(c *Config) { c.PingInterval = d })
}

// WithMaxOutstandingPings sets max_outstanding_pings explicitly.
func WithMaxOutstandingPings(n int) LoadOption {
	return configOption("scope.WithMaxOutstandingPings", []string{"max_outstanding_pings"},
		func(c *Config) { c.MaxOutstandingPings = n })
}

// WithTLS replaces the tls section explicitly.
func WithTLS(t TLSConfig) LoadOption {
	return configOption("scope.WithTLS", tlsKeys, func(c *Config) { c.TLS = t })
}

// WithUserPassword authenticates with user and password, replacing any
// other auth method from lower layers.
func WithUserPassword(user, password string) LoadOption {
	return configOption("scope.WithUserPassword", authKeys,
		func(c *Config) { c.Auth = AuthConfig{User: user, Password: Secret(password)} })
}

// WithToken authenticates with a token, replacing any other auth method.
func WithToken(token string) LoadOption {
	return configOption("scope.WithToken", authKeys, func(c *Config) { c.Auth = AuthConfig{Token: Secret(token)} })
}

// WithNKeySeedFile authenticates with the nkey seed in path, replacing any
// other auth method.
func WithNKeySeedFile(path string) LoadOption {
	return configOption("scope.WithNKeySeedFile", authKeys, func(c *Config) { c.Auth = AuthConfig{NKeySeedFile: path} })
}

// WithCredsFile authenticates with a .creds file (JWT + seed), replacing
// any other auth method.
func WithCredsFile(path string) LoadOption {
	return configOption("scope.WithCredsFile", authKeys, func(c *Config) { c.Auth = AuthConfig{CredsFile: path} })
}

// WithPool makes [Open], the scoped helpers, [Health], [WaitReady] and
// [NewHealthChecker] use p instead of the default pool. A nil p means the
// default pool.
func WithPool(p *Pool) Option {
	return openOpt{applyFunc: func(o *options) { o.pool = p }}
}

// DefaultIdleTimeout is how long a pooled connection stays open after its
// last release, so that scoping in a loop reuses one connection.
const DefaultIdleTimeout = 5 * time.Second

// WithIdleTimeout sets how long [NewPool]'s connections stay open after
// their last release (default [DefaultIdleTimeout]). 0 drains on the last
// [Scope.Close], synchronously; negative values make NewPool fail with
// [ErrInvalidOption].
func WithIdleTimeout(d time.Duration) PoolOption {
	return poolOpt{applyFunc: func(o *options) { o.idle = &d }}
}

// WithNATSOptions adds nats.go connect options to every connection
// [NewPool] dials, for what the config does not cover (error, disconnect
// and reconnect handlers, buffer sizes, a custom dialer). They apply after
// the config's own options, so on a conflict they win; a
// nats.ClosedHandler given here still runs (the pool chains it with its
// own, which waits for the close). Options repeat across calls
// (appended). A pool option only: the pool is keyed by config, and
// options are functions that cannot be compared.
func WithNATSOptions(opts ...nats.Option) PoolOption {
	return poolOpt{applyFunc: func(o *options) { o.natsOpts = append(o.natsOpts, opts...) }}
}

// WithRetry retries failed connection attempts with p (see [Retry]) when a
// pool dials. Given to [NewPool] it is the pool's default; given to
// [Pool.Acquire], [Open] or a helper it applies to that call. The default is
// a single attempt. Authorization failures, invalid config and an open
// circuit are never retried. [WaitReady] polls with p instead (its dials
// then make one attempt each).
func WithRetry(p RetryPolicy) AcquireOption {
	return acquireOpt{applyFunc: func(o *options) { o.retry = &p }}
}

// WithLimiter makes each scope take a slot from l for its lifetime
// (released by [Scope.Close]), waiting for one as [Limiter.Acquire] does.
// Given to [NewPool] it applies to every acquire of the pool; given to
// [Pool.Acquire], [Open] or a helper it applies to that call, replacing the
// pool's (a nil l: no limit for that call). The default is no limit.
func WithLimiter(l *Limiter) AcquireOption {
	return acquireOpt{applyFunc: func(o *options) { o.limiter, o.limiterSet = l, true }}
}

// WithDialObserver calls fn after every connection attempt a pool makes
// (success or failure) with its duration and outcome. fn must be quick and
// safe for concurrent use. nil is ignored.
func WithDialObserver(fn func(DialEvent)) PoolOption {
	return poolOpt{applyFunc: func(o *options) { o.observer = fn }}
}

// WithOnCheck calls fn after every check of a [HealthChecker]. nil is
// ignored.
func WithOnCheck(fn func(HealthResult)) HealthCheckerOption {
	return checkerOpt{applyFunc: func(o *options) { o.onCheck = fn }}
}
