package tracing

import (
	"strings"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/propagation"
)

// HeaderCarrier adapts a [nats.Header] to a propagation.TextMapCarrier.
//
// nats.Header is case-sensitive and, unlike http.Header, never canonicalises
// keys. Other NATS clients (Java, .NET, JavaScript) write "traceparent" in
// lower case while code using propagation.HeaderCarrier writes "Traceparent".
// HeaderCarrier therefore reads keys case-insensitively and writes them in
// lower case, replacing any other-cased copy of the same key, so both
// spellings are understood and one is written.
//
// A nil HeaderCarrier is valid for Get and Keys; Set on a nil carrier is a
// no-op (use [Inject], which allocates the header when it is nil). A
// HeaderCarrier is not safe for concurrent mutation, like the map it wraps.
type HeaderCarrier nats.Header

var _ propagation.TextMapCarrier = HeaderCarrier(nil)

// Get returns the first value of key, matching the key case-insensitively.
// An exact-case match is preferred; when several other spellings of the key
// hold values ("Traceparent" and "TRACEPARENT"), the one that sorts first in
// byte order wins, so the result never depends on map iteration order. It
// returns "" when the key is absent.
func (c HeaderCarrier) Get(key string) string {
	if v, ok := c[key]; ok {
		if len(v) > 0 {
			return v[0]
		}
		return ""
	}
	found, best, val := false, "", ""
	for k, v := range c {
		if len(v) > 0 && (!found || k < best) && strings.EqualFold(k, key) {
			found, best, val = true, k, v[0]
		}
	}
	return val
}

// Set stores value under the lower-cased key, removing any copy of the key
// spelled with a different case. It does nothing on a nil carrier.
func (c HeaderCarrier) Set(key, value string) {
	if c == nil {
		return
	}
	setLower(nats.Header(c), strings.ToLower(key), []string{value})
}

// Keys returns the header keys as stored, in no particular order.
func (c HeaderCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}
