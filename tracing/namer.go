package tracing

import (
	"strings"
	"sync"
)

// SubjectNamer maps a NATS subject to its destination template: the value of
// messaging.destination.name and messaging.destination.template, the
// "<destination>" part of span names and the destination label of every
// metric. It must return a low-cardinality value (a handful of templates per
// application) and must be safe for concurrent use. It never sees payloads.
type SubjectNamer func(subject string) string

// OverflowTemplate is the template [LimitTemplates] returns once its cap of
// distinct templates is reached.
const OverflowTemplate = "_OTHER"

// DefaultMaxTemplates is the cap of distinct templates per wrapper that the
// instrument package applies with [LimitTemplates] by default.
const DefaultMaxTemplates = 32

// Templates of subjects that must never become destinations.
const (
	// InboxTemplate replaces every "_INBOX.<id>..." reply subject.
	InboxTemplate = "_INBOX"
	// AckTemplate replaces every "$JS.ACK.<stream>.<consumer>.<ids>" subject.
	AckTemplate = "$JS.ACK"
)

// DefaultSubjectNamer is the default [SubjectNamer]. It bounds cardinality
// without configuration:
//
//   - "_INBOX.<anything>" becomes "_INBOX" (reply inboxes are never recorded);
//   - "$JS.ACK.<anything>" becomes "$JS.ACK" and "$JS.FC.<anything>" becomes
//     "$JS.FC" (acks and flow control are never a destination);
//   - "$KV.<bucket>.<key>" becomes "$KV.<bucket>" and "$O.<bucket>.<...>"
//     becomes "$O.<bucket>" (keys are opt-in data, never a template);
//   - every token that looks like an identifier becomes "*": all digits, a
//     UUID, 16 or more hex digits, or 16 or more letters and digits mixed (a
//     NUID);
//   - everything else, including wildcard tokens, is kept.
//
// A subject that needs no change is returned as is, without allocating.
func DefaultSubjectNamer(subject string) string {
	switch {
	case subject == InboxTemplate || strings.HasPrefix(subject, "_INBOX."):
		return InboxTemplate
	case subject == AckTemplate || strings.HasPrefix(subject, "$JS.ACK."):
		return AckTemplate
	case subject == "$JS.FC" || strings.HasPrefix(subject, "$JS.FC."):
		return "$JS.FC"
	case strings.HasPrefix(subject, "$KV."):
		return firstTokens(subject, 2)
	case strings.HasPrefix(subject, "$O."):
		return firstTokens(subject, 2)
	}
	// Fast path: nothing to replace.
	changed := false
	for tok := range strings.SplitSeq(subject, ".") {
		if looksLikeID(tok) {
			changed = true
			break
		}
	}
	if !changed {
		return subject
	}
	var b strings.Builder
	b.Grow(len(subject))
	first := true
	for tok := range strings.SplitSeq(subject, ".") {
		if !first {
			b.WriteByte('.')
		}
		first = false
		if looksLikeID(tok) {
			b.WriteByte('*')
		} else {
			b.WriteString(tok)
		}
	}
	return b.String()
}

// firstTokens returns the first n dot-separated tokens of s.
func firstTokens(s string, n int) string {
	seen := 0
	for i := 0; i < len(s); i++ {
		if s[i] == '.' {
			seen++
			if seen == n {
				return s[:i]
			}
		}
	}
	return s
}

// looksLikeID reports whether a subject token is an identifier rather than a
// name: digits only, a UUID, a long hex string or a long letters+digits mix.
func looksLikeID(tok string) bool {
	if tok == "" {
		return false
	}
	digits, hex, letters, other := 0, 0, 0, 0
	for i := 0; i < len(tok); i++ {
		ch := tok[i]
		switch {
		case ch >= '0' && ch <= '9':
			digits++
		case (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F'):
			hex++
		case (ch >= 'g' && ch <= 'z') || (ch >= 'G' && ch <= 'Z'):
			letters++
		default:
			other++
		}
	}
	n := len(tok)
	switch {
	case digits == n:
		return true
	case n == 36 && isUUID(tok):
		return true
	case other == 0 && n >= 16 && digits+hex == n:
		return true
	case other == 0 && n >= 16 && digits > 0 && hex+letters > 0:
		return true
	}
	return false
}

func isUUID(s string) bool {
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch i {
		case 8, 13, 18, 23:
			if ch != '-' {
				return false
			}
		default:
			if !((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F')) {
				return false
			}
		}
	}
	return true
}

// LimitTemplates wraps namer (nil: [DefaultSubjectNamer]) so that it yields at
// most max distinct templates; any further new template becomes
// [OverflowTemplate]. A max below 1 means [DefaultMaxTemplates]. Each call
// returns an independent limiter; the instrument package creates one per
// wrapper. The returned SubjectNamer is safe for concurrent use.
func LimitTemplates(namer SubjectNamer, max int) SubjectNamer {
	if namer == nil {
		namer = DefaultSubjectNamer
	}
	if max < 1 {
		max = DefaultMaxTemplates
	}
	// Size the map for the default cap at most: max is an upper bound, not
	// an expected count, and a large one ("unlimited") must not allocate
	// up front.
	l := &limiter{namer: namer, max: max, seen: make(map[string]struct{}, min(max, DefaultMaxTemplates))}
	return l.name
}

type limiter struct {
	namer SubjectNamer
	max   int
	mu    sync.RWMutex
	seen  map[string]struct{}
}

func (l *limiter) name(subject string) string {
	t := l.namer(subject)
	l.mu.RLock()
	_, ok := l.seen[t]
	l.mu.RUnlock()
	if ok {
		return t
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.seen[t]; ok {
		return t
	}
	if len(l.seen) >= l.max {
		return OverflowTemplate
	}
	l.seen[t] = struct{}{}
	return t
}
