package scope

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// Sentinel errors. Match them with errors.Is.
var (
	// ErrInvalidConfig is matched by every [*ConfigError].
	ErrInvalidConfig = errors.New("scope: invalid config")
	// ErrInvalidOption reports a rejected option value (negative idle
	// timeout, zero limiter size, bad retry policy, ...).
	ErrInvalidOption = errors.New("scope: invalid option")
	// ErrPoolClosed is returned when a closed [Pool] is used.
	ErrPoolClosed = errors.New("scope: pool closed")
	// ErrNotReady is matched by the [*NotReadyError] of [WaitReady].
	ErrNotReady = errors.New("scope: not ready")
	// ErrLimit is matched by the [*LimitError] of [Limiter.Acquire].
	ErrLimit = errors.New("scope: connection limit")
	// ErrRetryExhausted is matched by the [*RetryError] of [Retry] when it
	// gives up.
	ErrRetryExhausted = errors.New("scope: retries exhausted")
	// ErrAlreadyStarted is returned by [HealthChecker.Start] on a running
	// checker.
	ErrAlreadyStarted = errors.New("scope: health checker already started")
)

// ConfigError is a rejected configuration value. It names where the value
// came from (Source), the field in the user's words (Field), the bad value
// (secrets redacted), what is allowed and, for a near miss such as a
// misspelt key, a suggestion. The text is one line with no Go type names:
//
//	scope: invalid config: nats.reconect_time_wait (naq.yaml:3): unknown key: allowed: servers, ...; did you mean "reconnect_time_wait"?
//	scope: invalid config: nats.max_reconnect_attempts="lots" (env NAQ_MAX_RECONNECT): allowed: an integer >= -1 (-1 = reconnect forever)
//
// errors.Is(err, ErrInvalidConfig) holds; Unwrap returns the cause (a file
// or parse error), if any.
type ConfigError struct {
	// Field is the field in the user's words: its YAML path from the top of
	// the config file, e.g. "nats.tls.cert_file", or
	// "profiles.prod.drain_timeout" when the value came from that profile
	// (environment variables and options name the "nats." path). Errors
	// about the file or profile choice use "config file" and "profile".
	Field string
	// Value is the offending value as text (secrets redacted), quoted when
	// it is the text the user wrote; empty when the problem is the key or
	// the shape rather than a value.
	Value string
	// Allowed describes what is accepted.
	Allowed string
	// Source is where the value came from: "path/to/naq.yaml:12" (file and
	// line), "env NAQ_MAX_RECONNECT", "option scope.WithDrainTimeout",
	// "option scope.WithConfig", "argument url" (Open's and the helpers'
	// url), or several of them joined by ", " when the problem combines
	// values (two auth methods). The naq CLI names its flags ("flag --url"). Empty when the
	// value has no known origin (Config.Validate on a Config built in code,
	// or a default).
	Source string
	// Suggestion is a hint for the fix, e.g. `did you mean
	// "reconnect_time_wait"?` for a misspelt key; empty when there is none.
	Suggestion string
	// Err is the underlying cause, if any.
	Err error

	// key is the field's key under nats: ("tls.cert_file"), blame the keys
	// whose origins explain the error (default: key) and item 1 + the index
	// of the server URL at fault (0: none). Load uses them to fill in
	// Field and Source.
	key   string
	blame []string
	item  int
}

// Error implements error:
// "scope: invalid config: <field>[=<value>] (<source>)[: <cause>][: allowed: <allowed>][; <suggestion>]".
func (e *ConfigError) Error() string {
	var b strings.Builder
	b.WriteString("scope: invalid config: ")
	b.WriteString(e.Field)
	part := func(before, s, after string) {
		if s != "" {
			b.WriteString(before)
			b.WriteString(s)
			b.WriteString(after)
		}
	}
	part("=", e.Value, "")
	part(" (", e.Source, ")")
	if e.Err != nil {
		part(": ", e.Err.Error(), "")
	}
	part(": allowed: ", e.Allowed, "")
	part("; ", e.Suggestion, "")
	return b.String()
}

// Is reports whether target is [ErrInvalidConfig].
func (e *ConfigError) Is(target error) bool { return target == ErrInvalidConfig }

// Unwrap returns the underlying cause (may be nil).
func (e *ConfigError) Unwrap() error { return e.Err }

// ConnectError is a failed connection attempt. Servers are redacted.
// Unwrap returns the nats.go error unchanged; when the server rejected the
// credentials, errors.Is(err, nats.ErrAuthorization) holds as well (nats.go
// itself reports that case as a plain "nats: authorization violation").
type ConnectError struct {
	// Servers is the redacted server list that was dialed.
	Servers []string
	// Err is the nats.go error.
	Err  error
	auth bool
}

// Error implements error.
func (e *ConnectError) Error() string {
	msg := fmt.Sprintf("scope: connect to %s: %v", strings.Join(e.Servers, ","), e.Err)
	if e.auth && !strings.Contains(strings.ToLower(e.Err.Error()), "authorization") {
		msg += " (authorization failed)"
	}
	if e.auth {
		msg += "; check auth.user/password, token, nkey or creds (not retried)"
	}
	return msg
}

// Unwrap returns the nats.go error.
func (e *ConnectError) Unwrap() error { return e.Err }

// Is matches nats.ErrAuthorization when the server rejected the
// credentials.
func (e *ConnectError) Is(target error) bool {
	return e.auth && target == nats.ErrAuthorization
}

// IsAuth reports whether the server rejected the credentials.
func (e *ConnectError) IsAuth() bool { return e.auth }

// isAuthError recognises authorization failures: nats.go's sentinels and the
// plain "authorization violation" error it returns from connect.
func isAuthError(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) ||
		errors.Is(err, nats.ErrAuthRevoked) || errors.Is(err, nats.ErrAccountAuthExpired) {
		return true
	}
	s := strings.ToLower(err.Error())
	return strings.Contains(s, "authorization violation") ||
		strings.Contains(s, "authentication expired") ||
		strings.Contains(s, "authentication revoked") ||
		strings.Contains(s, "account authentication expired")
}

// NotReadyError is returned by [WaitReady] when the deadline passes (or ctx
// is cancelled, or a permanent error stops polling) before the server is
// ready. errors.Is(err, ErrNotReady) holds, and Unwrap yields both the last
// health-check error and the context error, so errors.Is finds either.
type NotReadyError struct {
	// Attempts is the number of health checks made.
	Attempts int
	// Elapsed is the time spent waiting.
	Elapsed time.Duration
	// Last is the last health-check error.
	Last error
	// Ctx is the context error, nil when polling stopped on a permanent
	// error.
	Ctx error
}

// Error implements error.
func (e *NotReadyError) Error() string {
	return fmt.Sprintf("scope: not ready after %d attempt(s) in %v: %v", e.Attempts,
		e.Elapsed.Round(time.Millisecond), e.Last)
}

// Is reports whether target is [ErrNotReady].
func (e *NotReadyError) Is(target error) bool { return target == ErrNotReady }

// Unwrap returns the last cause and the context error.
func (e *NotReadyError) Unwrap() []error {
	errs := []error{e.Last}
	if e.Ctx != nil {
		errs = append(errs, e.Ctx)
	}
	return errs
}

// RetryError is returned by [Retry] when it stops before success because
// the retries ran out or ctx ended. errors.Is(err, ErrRetryExhausted) holds
// when retries ran out; Unwrap yields the last error and the context error.
type RetryError struct {
	// Attempts is how many times the function ran.
	Attempts int
	// Last is the function's last error.
	Last error
	// Ctx is the context error when ctx ended; nil otherwise.
	Ctx error
}

// Error implements error.
func (e *RetryError) Error() string {
	if e.Ctx != nil {
		return fmt.Sprintf("scope: retry stopped after %d attempt(s): %v: last error: %v", e.Attempts, e.Ctx, e.Last)
	}
	return fmt.Sprintf("scope: gave up after %d attempt(s): %v", e.Attempts, e.Last)
}

// Is reports whether target is [ErrRetryExhausted] (retries ran out).
func (e *RetryError) Is(target error) bool { return target == ErrRetryExhausted && e.Ctx == nil }

// Unwrap returns the last error and the context error.
func (e *RetryError) Unwrap() []error {
	errs := make([]error, 0, 2)
	if e.Last != nil {
		errs = append(errs, e.Last)
	}
	if e.Ctx != nil {
		errs = append(errs, e.Ctx)
	}
	return errs
}

// LimitError is returned by [Limiter.Acquire] when ctx ends before a slot
// frees up. errors.Is(err, ErrLimit) holds, and so does errors.Is with the
// context error.
type LimitError struct {
	// Max is the limiter's capacity.
	Max int
	// Waited is how long the caller waited.
	Waited time.Duration
	// Err is the context error.
	Err error
}

// Error implements error.
func (e *LimitError) Error() string {
	return fmt.Sprintf("scope: connection limit %d reached; waited %v: %v", e.Max,
		e.Waited.Round(time.Millisecond), e.Err)
}

// Is reports whether target is [ErrLimit].
func (e *LimitError) Is(target error) bool { return target == ErrLimit }

// Unwrap returns the context error.
func (e *LimitError) Unwrap() error { return e.Err }

func invalidOption(name string, value any, allowed string) error {
	return fmt.Errorf("%w: %s=%v: allowed: %s", ErrInvalidOption, name, value, allowed)
}
