package tracing

// The hop-event parser and its types are unexported: the event format is
// nats-server's, and naq's contract is the spans it makes of it. The
// external tests reach them through these aliases.

type (
	HopEvent    = hopEvent
	HopType     = hopType
	HopConnKind = hopConnKind
)

const (
	HopTypeIngress        = hopTypeIngress
	HopTypeSubjectMapping = hopTypeSubjectMapping
	HopTypeStreamExport   = hopTypeStreamExport
	HopTypeServiceImport  = hopTypeServiceImport
	HopTypeJetStream      = hopTypeJetStream
	HopTypeEgress         = hopTypeEgress
	HopConnClient         = hopConnClient
	HopConnRouter         = hopConnRouter
)

var (
	ParseHopEvent        = parseHopEvent
	ErrMalformedHopEvent = errMalformedHopEvent
)
