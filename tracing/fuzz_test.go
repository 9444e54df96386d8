package tracing_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/naq-io/naq/tracing"
)

// fuzzProp is the W3C TraceContext + Baggage propagator the fuzz targets
// extract and inject with.
var fuzzProp = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// fuzzHeader builds a nats.Header from raw: one "key:value" per line, split
// at the first ':'. A repeated key appends a value (duplicate traceparent); a
// line without ':' is a key with no values at all.
func fuzzHeader(raw string) nats.Header {
	h := nats.Header{}
	for line := range strings.SplitSeq(raw, "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			if _, exists := h[k]; !exists {
				h[k] = []string{}
			}
			continue
		}
		h[k] = append(h[k], v)
	}
	return h
}

func cloneHeader(h nats.Header) nats.Header {
	c := make(nats.Header, len(h))
	for k, v := range h {
		c[k] = slices.Clone(v)
	}
	return c
}

// allowedGet is what the documented contract of HeaderCarrier.Get permits:
// the first value of the exact-case key when it is present (even "" when that
// key has no values), else the first value of any key equal under case
// folding, else "".
func allowedGet(h nats.Header, key string) []string {
	if v, ok := h[key]; ok {
		if len(v) > 0 {
			return []string{v[0]}
		}
		return []string{""}
	}
	var out []string
	for k, v := range h {
		if len(v) > 0 && strings.EqualFold(k, key) {
			out = append(out, v[0])
		}
	}
	if len(out) == 0 {
		return []string{""}
	}
	return out
}

// caseVariants are spellings of key that HeaderCarrier must treat as key.
func caseVariants(key string) []string {
	vs := []string{key}
	for _, v := range []string{strings.ToLower(key), strings.ToUpper(key)} {
		// Unicode has letters whose lower/upper form is not a case-fold of
		// the original (U+0130 → "i"); those are not spellings of key.
		if strings.EqualFold(v, key) {
			vs = append(vs, v)
		}
	}
	return vs
}

// foldUnique reports whether no two keys of h are equal under case folding
// and every key's lower- and upper-case forms fold to it: the case where
// "case-insensitive" has exactly one meaning.
func foldUnique(h nats.Header) bool {
	for k := range h {
		if !strings.EqualFold(k, strings.ToLower(k)) || !strings.EqualFold(k, strings.ToUpper(k)) {
			return false
		}
	}
	keys := slices.Collect(maps.Keys(h))
	for i := range keys {
		for j := i + 1; j < len(keys); j++ {
			if strings.EqualFold(keys[i], keys[j]) {
				return false
			}
		}
	}
	return true
}

func mapKeys(h nats.Header, f func(string) string) nats.Header {
	out := make(nats.Header, len(h))
	for k, v := range h {
		out[f(k)] = slices.Clone(v)
	}
	return out
}

func extract(h nats.Header) context.Context {
	return tracing.ExtractHeader(context.Background(), h, tracing.WithPropagators(fuzzProp))
}

func sameBaggage(t *testing.T, want, got baggage.Baggage, what string) {
	t.Helper()
	if want.Len() != got.Len() {
		t.Fatalf("%s: baggage has %d members, want %d (%q vs %q)", what, got.Len(), want.Len(), got.String(), want.String())
	}
	for _, m := range want.Members() {
		g := got.Member(m.Key())
		if g.Value() != m.Value() {
			t.Fatalf("%s: baggage member %q = %q, want %q", what, m.Key(), g.Value(), m.Value())
		}
	}
}

// FuzzHeaderCarrier feeds arbitrary headers through HeaderCarrier and a W3C
// TraceContext+Baggage propagator. Invariants (from carrier.go and
// propagation.go): nothing panics; Get matches keys case-insensitively,
// preferring the exact case; Keys lists the stored keys; Set writes the
// lower-cased key and removes other-cased copies; Extract is the same
// whatever the case of the keys and the same on every call; an extracted
// valid span context (and its baggage) re-injects, in lower-case keys, to an
// equal one, both into a fresh message and into the message it came from.
func FuzzHeaderCarrier(f *testing.F) {
	f.Fuzz(func(t *testing.T, raw, key, value string) {
		h := fuzzHeader(raw)
		c := tracing.HeaderCarrier(h)

		// Keys: exactly the stored keys.
		keys := c.Keys()
		if len(keys) != len(h) {
			t.Fatalf("Keys() returned %d keys for a header of %d", len(keys), len(h))
		}
		for _, k := range keys {
			if _, ok := h[k]; !ok {
				t.Fatalf("Keys() returned %q, which is not stored", k)
			}
		}

		// Get: the documented case-insensitive contract.
		queries := []string{"traceparent", "Traceparent", "TRACEPARENT", "tracestate", "TraceState", "baggage", "Baggage"}
		queries = append(queries, caseVariants(key)...)
		for k := range h {
			queries = append(queries, caseVariants(k)...)
		}
		for _, q := range queries {
			got := c.Get(q)
			if allowed := allowedGet(h, q); !slices.Contains(allowed, got) {
				t.Fatalf("Get(%q) = %q, want one of %q", q, got, allowed)
			}
			for range 4 {
				if again := c.Get(q); again != got {
					t.Fatalf("Get(%q) is not deterministic: %q then %q (header %q)", q, got, again, h)
				}
			}
		}

		// Set: lower-cased key, other-cased copies removed, others untouched.
		sh := cloneHeader(h)
		tracing.HeaderCarrier(sh).Set(key, value)
		lk := strings.ToLower(key)
		if v := sh[lk]; len(v) != 1 || v[0] != value {
			t.Fatalf("after Set(%q, %q): header[%q] = %q", key, value, lk, v)
		}
		for k, v := range h {
			if strings.EqualFold(k, lk) {
				if _, ok := sh[k]; ok && k != lk {
					t.Fatalf("after Set(%q): other-cased copy %q kept", key, k)
				}
				continue
			}
			if !slices.Equal(sh[k], v) {
				t.Fatalf("Set(%q) changed unrelated key %q: %q → %q", key, k, v, sh[k])
			}
		}
		if strings.EqualFold(key, lk) {
			if got := tracing.HeaderCarrier(sh).Get(key); got != value {
				t.Fatalf("Get(%q) after Set = %q, want %q", key, got, value)
			}
		}
		var nilCarrier tracing.HeaderCarrier
		nilCarrier.Set(key, value)
		if nilCarrier.Get(key) != "" || len(nilCarrier.Keys()) != 0 {
			t.Fatal("a nil carrier is not empty")
		}

		// Extract: deterministic, and blind to the case of the keys.
		ctx := extract(h)
		sc := trace.SpanContextFromContext(ctx)
		bag := baggage.FromContext(ctx)
		for range 4 {
			again := extract(h)
			if sc2 := trace.SpanContextFromContext(again); !sc2.Equal(sc) {
				t.Fatalf("Extract is not deterministic: %v then %v (header %q)", sc, sc2, h)
			}
			sameBaggage(t, bag, baggage.FromContext(again), "Extract again")
		}
		if foldUnique(h) {
			for name, f := range map[string]func(string) string{"lower": strings.ToLower, "upper": strings.ToUpper} {
				other := extract(mapKeys(h, f))
				if sc2 := trace.SpanContextFromContext(other); !sc2.Equal(sc) {
					t.Fatalf("Extract of %s-cased keys = %v, want %v", name, sc2, sc)
				}
				sameBaggage(t, bag, baggage.FromContext(other), name+"-cased keys")
			}
		}
		if sc.IsValid() && !sc.IsRemote() {
			t.Fatalf("extracted span context %v is not remote", sc)
		}

		// Inject into a fresh message: lower-case keys, equal context.
		msg := &nats.Msg{Subject: "fuzz"}
		tracing.Inject(ctx, msg, tracing.WithPropagators(fuzzProp))
		if msg.Header == nil {
			t.Fatal("Inject left msg.Header nil")
		}
		for k := range msg.Header {
			if k != strings.ToLower(k) {
				t.Fatalf("Inject wrote key %q, want lower case", k)
			}
		}
		back := tracing.Extract(context.Background(), msg, tracing.WithPropagators(fuzzProp))
		if !sc.IsValid() {
			if _, ok := msg.Header["traceparent"]; ok {
				t.Fatalf("Inject wrote a traceparent for an invalid span context: %q", msg.Header)
			}
		} else if sc2 := trace.SpanContextFromContext(back); !sc2.Equal(sc) {
			t.Fatalf("re-injected span context %v (header %q), want %v", sc2, msg.Header, sc)
		}
		sameBaggage(t, bag, baggage.FromContext(back), "re-injected")

		// Inject back into the message the context came from (forwarding):
		// other-cased copies of the written keys are gone, and the message
		// now yields the same span context.
		fh := cloneHeader(h)
		tracing.Inject(ctx, &nats.Msg{Header: fh}, tracing.WithPropagators(fuzzProp))
		if sc.IsValid() {
			for k := range fh {
				if strings.EqualFold(k, "traceparent") && k != "traceparent" {
					t.Fatalf("Inject kept other-cased copy %q", k)
				}
			}
			if sc2 := trace.SpanContextFromContext(extract(fh)); !sc2.Equal(sc) {
				t.Fatalf("span context after re-injecting into the source header = %v, want %v (header %q)", sc2, sc, fh)
			}
		}
	})
}

// looksLikeIDSpec restates the identifier rule documented on
// DefaultSubjectNamer: all digits, a UUID, 16+ hex digits, or 16+ letters and
// digits mixed.
func looksLikeIDSpec(tok string) bool {
	if tok == "" {
		return false
	}
	isDigit := func(r byte) bool { return r >= '0' && r <= '9' }
	isHex := func(r byte) bool { return isDigit(r) || (r >= 'a' && r <= 'f') || (r >= 'A' && r <= 'F') }
	isAlnum := func(r byte) bool { return isDigit(r) || (r|0x20 >= 'a' && r|0x20 <= 'z') }
	all := func(p func(byte) bool) bool {
		for i := 0; i < len(tok); i++ {
			if !p(tok[i]) {
				return false
			}
		}
		return true
	}
	if all(isDigit) {
		return true
	}
	if len(tok) == 36 {
		uuid := true
		for i := 0; i < 36; i++ {
			if i == 8 || i == 13 || i == 18 || i == 23 {
				uuid = uuid && tok[i] == '-'
			} else {
				uuid = uuid && isHex(tok[i])
			}
		}
		if uuid {
			return true
		}
	}
	if len(tok) >= 16 && all(isHex) {
		return true
	}
	// A letters+digits mix: all alphanumeric, at least one digit (an
	// all-letter word is a name, all digits were handled above).
	return len(tok) >= 16 && all(isAlnum) && strings.ContainsAny(tok, "0123456789")
}

// checkTemplate asserts the documented mapping of DefaultSubjectNamer.
func checkTemplate(t *testing.T, subject, got string) {
	t.Helper()
	if len(got) > len(subject) {
		t.Fatalf("DefaultSubjectNamer(%q) = %q: longer than the subject", subject, got)
	}
	if again := tracing.DefaultSubjectNamer(subject); again != got {
		t.Fatalf("DefaultSubjectNamer(%q) is not deterministic: %q then %q", subject, got, again)
	}
	if fixed := tracing.DefaultSubjectNamer(got); fixed != got {
		t.Fatalf("template %q of %q is not a fixed point: maps to %q", got, subject, fixed)
	}
	want := func(w string) {
		t.Helper()
		if got != w {
			t.Fatalf("DefaultSubjectNamer(%q) = %q, want %q", subject, got, w)
		}
	}
	firstTwo := func() string {
		tok := strings.SplitN(subject, ".", 3)
		if len(tok) < 3 {
			return subject
		}
		return tok[0] + "." + tok[1]
	}
	switch {
	case subject == "_INBOX" || strings.HasPrefix(subject, "_INBOX."):
		want(tracing.InboxTemplate)
		return
	case subject == "$JS.ACK" || strings.HasPrefix(subject, "$JS.ACK."):
		want(tracing.AckTemplate)
		return
	case subject == "$JS.FC" || strings.HasPrefix(subject, "$JS.FC."):
		want("$JS.FC")
		return
	case strings.HasPrefix(subject, "$KV."), strings.HasPrefix(subject, "$O."):
		want(firstTwo())
		return
	}
	in, out := strings.Split(subject, "."), strings.Split(got, ".")
	if len(in) != len(out) {
		t.Fatalf("DefaultSubjectNamer(%q) = %q: %d tokens, want %d", subject, got, len(out), len(in))
	}
	for i := range in {
		w := in[i]
		if looksLikeIDSpec(in[i]) {
			w = "*"
		}
		if out[i] != w {
			t.Fatalf("DefaultSubjectNamer(%q) = %q: token %d is %q, want %q", subject, got, i, out[i], w)
		}
	}
	if strings.HasPrefix(got, "_INBOX.") || strings.HasPrefix(got, "$JS.ACK.") {
		t.Fatalf("DefaultSubjectNamer(%q) = %q: an inbox or ack id survived", subject, got)
	}
}

// FuzzSubjectNamer runs DefaultSubjectNamer and LimitTemplates on fuzzed
// subjects (one per line of subjects, and the whole input as one).
// Invariants (from namer.go): nothing panics; inbox, ack, flow-control, KV and
// object-store subjects collapse as documented and every identifier-like
// token becomes "*", other tokens are kept; a template is never longer than
// its subject, is deterministic and maps to itself; LimitTemplates returns
// the namer's template until it has seen its cap of distinct templates, then
// OverflowTemplate for new ones, keeps known templates, and never yields
// more than cap distinct templates plus the overflow one.
func FuzzSubjectNamer(f *testing.F) {
	f.Fuzz(func(t *testing.T, subjects string, max int) {
		lines := strings.Split(subjects, "\n")
		all := append([]string{subjects}, lines...)
		for _, s := range all {
			checkTemplate(t, s, tracing.DefaultSubjectNamer(s))
		}

		limit := max
		if limit < 1 {
			limit = tracing.DefaultMaxTemplates
		}
		// Feed the subjects twice, so known templates are asked for again.
		feed := append(slices.Clone(all), all...)
		n1 := tracing.LimitTemplates(nil, max)
		n2 := tracing.LimitTemplates(tracing.DefaultSubjectNamer, max)
		admitted := map[string]bool{}
		for _, s := range feed {
			tmpl := tracing.DefaultSubjectNamer(s)
			got := n1(s)
			if got2 := n2(s); got2 != got {
				t.Fatalf("two limiters fed the same subjects disagree on %q: %q vs %q", s, got, got2)
			}
			switch {
			case admitted[tmpl]:
				if got != tmpl {
					t.Fatalf("LimitTemplates(%q) = %q, want the known template %q", s, got, tmpl)
				}
			case len(admitted) < limit:
				if got != tmpl {
					t.Fatalf("LimitTemplates(%q) = %q, want %q (%d of %d templates used)", s, got, tmpl, len(admitted), limit)
				}
				admitted[tmpl] = true
			default:
				if got != tracing.OverflowTemplate {
					t.Fatalf("LimitTemplates(%q) = %q past the cap %d, want %q", s, got, limit, tracing.OverflowTemplate)
				}
			}
		}
		if len(admitted) > limit {
			t.Fatalf("LimitTemplates admitted %d templates, cap %d", len(admitted), limit)
		}
	})
}
