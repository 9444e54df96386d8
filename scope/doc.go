// Package scope manages the lifecycle of NATS connections: configuration
// (YAML file, profiles, NAQ_* environment, validation, TLS and auth), pooled
// connections shared per effective configuration, scoped helpers that hand a
// connection, a JetStream handle or a KeyValue bucket to a closure and always
// release it, health checks, wait-until-ready, retry on connection failure, a
// connection limiter and a periodic health checker.
//
// # Configuration
//
// [Config] holds exactly the fields of the NAQ seed's `nats:` section plus
// `tls` and `auth`. [DefaultConfig] returns the defaults; [Load] builds the
// effective configuration with this precedence (later wins):
//
//	defaults < file (nats:) < profile (profiles.<name>) < environment < explicit options
//
// The file comes from [WithConfigFile] or NAQ_CONFIG, the profile from
// [WithProfile] or NAQ_PROFILE. The file layout is:
//
//	nats:                       # the base section
//	  servers: ["nats://localhost:4222"]
//	  client_name: naq-client
//	  max_reconnect_attempts: 5
//	  reconnect_time_wait: 2.0  # seconds, or a Go duration string: "2s"
//	  connection_timeout: 10.0
//	  drain_timeout: 30.0
//	  flush_timeout: 5.0
//	  ping_interval: 120.0
//	  max_outstanding_pings: 2
//	  tls:  {enabled: false, cert_file: "", key_file: "", ca_file: "", insecure_skip_verify: false}
//	  auth: {user: "", password: "", token: "", nkey_seed_file: "", creds_file: ""}
//	profiles:                   # name -> a partial nats section overlaid on the base
//	  prod:
//	    servers: ["tls://nats.prod:4222"]
//	    tls: {enabled: true, ca_file: /etc/nats/ca.pem}
//
// Decoding is strict: an unknown key (with the nearest known one as a
// suggestion), a key set twice or a value of the wrong kind is an error
// naming the file and line. Every field has a NAQ_* variable (see the Env*
// constants, e.g. [EnvNATSURL]); NATS_URL is used for servers when neither
// NAQ_NATS_URL nor the file/profile set them. Load ignores NAQ_* variables
// it does not read (a program may use NAQ_ names of its own); [CheckEnv]
// reports them, with the variable a misspelt name most likely meant.
// [WithLookupEnv] replaces os.LookupEnv (tests inject a map). Invalid input is
// reported as a [*ConfigError] (errors.Is(err, [ErrInvalidConfig])) naming
// where the value came from (file:line, environment variable, option), the
// field, the bad value (secrets redacted) and what is allowed.
//
// Secrets never print: [Secret] redacts itself in String, GoString, %v, %+v,
// %#v, YAML, JSON and text encoding, and [Config.String] / [Config.YAML] /
// [Config.Redacted] also hide passwords embedded in server URLs.
// [Config.NATSOptions] turns a Config into []nats.Option (name, timeouts,
// reconnects, pings, TLS via nats.Secure/RootCAs/ClientCert, auth via
// UserInfo/Token/nkey seed file/UserCredentials).
//
// # Pooled scopes
//
// A [Pool] shares one *nats.Conn per effective [Config] and counts
// references. [Pool.Acquire] returns a [*Scope]; [Scope.Close] releases it.
// When the last reference is released the connection stays open for the
// pool's idle timeout ([WithIdleTimeout], default [DefaultIdleTimeout]) so
// scoping inside a loop reuses one connection; then it is drained. With an
// idle timeout of 0 the last [Scope.Close] drains synchronously. Draining is
// bounded by drain_timeout (and the ctx deadline) and waits for nats.go's
// closed callback, because nats.Conn.Drain only starts draining. [Pool.Close]
// drains every connection; later use returns [ErrPoolClosed].
//
// The package-level helpers use the default pool (or [WithPool]):
//
//	s, err := scope.Open(ctx, url, opts...)      // url "" = from config/env
//	defer s.Close(ctx)
//	nc := s.Conn()                              // *instrument.Conn
//
//	err := scope.Run(ctx, url, func(ctx context.Context, nc *instrument.Conn) error { ... })
//	err := scope.JetStream(ctx, url, func(ctx context.Context, js jetstream.JetStream) error { ... })
//	err := scope.KeyValue(ctx, url, "bucket", func(ctx context.Context, kv jetstream.KeyValue) error { ... })
//
//	v, err := scope.Do(ctx, url, func(ctx context.Context, nc *instrument.Conn) (T, error) { ... })
//	v, err := scope.DoJetStream(ctx, url, func(ctx context.Context, js jetstream.JetStream) (T, error) { ... })
//	v, err := scope.DoKeyValue(ctx, url, "bucket", func(ctx context.Context, kv jetstream.KeyValue) (T, error) { ... })
//
// [Run], [JetStream], [KeyValue], [Do], [DoJetStream] and [DoKeyValue]
// release the scope when the closure returns, returns an error, or panics
// (the panic continues after the release). Every handle they give is
// instrumented; the raw *nats.Conn is the escape hatch [Scope.RawConn]
// (nc.Conn() inside a closure), for code that must have one. [Shutdown]
// drains the default pool (a fresh one replaces it). [DefaultPool] returns
// it.
//
// # Options
//
// Each function takes only the options it honours, so an option it would
// ignore does not compile there. The options are one family of kinds, and
// one option value may belong to several:
//
//   - [LoadOption]: [Load]; the config options ([WithConfigFile],
//     [WithProfile], [WithLookupEnv], [WithConfig], [WithConfigEdit],
//     [WithServers], ...). Every LoadOption is an [Option].
//   - [Option]: [Open], the helpers, [Health], [WaitReady]; every
//     LoadOption and AcquireOption, and [WithPool].
//   - [AcquireOption]: [Pool.Acquire]; [WithRetry] and [WithLimiter]. Each is
//     an Option too, and a [PoolOption] (the pool's default).
//   - [PoolOption]: [NewPool]; [WithIdleTimeout], [WithNATSOptions],
//     [WithDialObserver], the telemetry and gate options, every
//     AcquireOption.
//   - [HealthCheckerOption]: [NewHealthChecker]; every Option and
//     [WithOnCheck].
//
// # Instrumented handles, the gate and connection metrics
//
// The handles a pool hands out go through naq's instrument pipeline:
// [Scope.JetStream] is instrument.NewJetStream over jetstream.New,
// [Scope.KeyValue] binds the bucket through it (so the bucket is wrapped
// too) and [Scope.Conn] is instrument.NewConn; only [Scope.RawConn] is the
// raw *nats.Conn. Subscriptions made through [Scope.Conn] are
// tracked by the connection's metrics.Observer
// (instrument.WithSubscriptionTracker): nats.client.subscription.pending and
// .dropped per subject template, until they are unsubscribed, drained or
// the connection closes.
//
// The pool keeps one *circuit.Gate per connection config ([Scope.Gate]),
// named "<client name>@<host:port,...>". It outlives the config's
// connections and guards them in layers:
//
//   - its connect breaker is consulted before every dial (an open connect
//     breaker rejects the dial with an error matching circuit.ErrOpen, which
//     also stops [WithRetry]); a connection that is up is not gated by it;
//   - it watches every connection the pool dials for the config
//     (circuit.Gate.Watch): once a connection has been down for longer than
//     the grace (250 ms by default), requests, JetStream publishes and API
//     calls and KeyValue calls of its handles fail fast with circuit.ErrOpen
//     until nats.go reconnects;
//   - the handles get one breaker per destination (request subject template,
//     JetStream publish subject template, stream or bucket): it opens on the
//     timeouts and server errors of that destination only, never on caller
//     mistakes, expected misses or no responders.
//
// Core publishes, receives, settles and message processing are never gated.
// Health checks dial without the connect breaker. Every dial is timed and
// counted by a metrics.Recorder ([Pool.Recorder], [WithRecorder]) which then
// observes the connection (nats.client.* metrics); the attempt itself runs
// through instrument.Connect, the one operation pipeline (the connect
// breaker, a "connect" span, messaging.client.operation.duration with
// operation name connect). [WithTracerProvider], [WithMeterProvider],
// [WithPropagators], [WithInstrumentOptions], [WithGateOptions] (any
// circuit.GateOption: the grace, destination and connect breaker settings,
// a state-change callback) and [WithoutGate] configure this per pool; the
// defaults are the otel globals at [NewPool] and circuit's gate defaults.
//
// # Health, readiness, retry, limits
//
// [Health] connects (or reuses a pooled connection) and returns a
// [HealthReport]: RTT, server id, name and version, whether JetStream is
// enabled, the connected URL (credentials redacted), and the gate's open
// destination breakers as detail. Readiness follows connection health: the
// check fails when the connection is not connected, never because a
// destination breaker is open. [WaitReady] polls [Health] with backoff
// until it succeeds or ctx ends; its error ([*NotReadyError], errors.Is
// [ErrNotReady]) wraps the last cause.
//
// [Retry] and [RetryValue] run a function with the seed's knobs (max
// retries, initial delay, backoff factor) plus jitter and a max delay
// ([RetryPolicy], [DefaultRetryPolicy]), built on
// github.com/cenkalti/backoff/v5. They stop when ctx ends and at once on a
// permanent error ([IsPermanent]: invalid config, authorization failures,
// a call the gate refused (circuit.ErrOpen), backoff.Permanent, context
// errors). [WithRetry] applies a policy to connection dialing in
// [Pool.Acquire] / [Open].
//
// [Limiter] caps concurrent scopes ([NewLimiter], [Limiter.Acquire] waits
// until a slot is free or ctx ends, then returns [*LimitError],
// errors.Is [ErrLimit]); [WithLimiter] makes a pool ([NewPool]) or one
// acquire ([Open], the helpers, [Pool.Acquire]) use it.
// [HealthChecker] runs [Health] periodically ([NewHealthChecker],
// [HealthChecker.Start], [HealthChecker.Stop], [HealthChecker.Last]).
//
// Every connection attempt goes through one dial path (instrument.Connect:
// the gate's connect breaker, connect span, connect; connection metrics),
// also observable with [WithDialObserver] ([DialEvent]).
//
// All exported types are safe for concurrent use unless stated otherwise.
package scope
