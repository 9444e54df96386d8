package metrics

import (
	"encoding/json"
	"sort"
	"time"
)

// Snapshot is a point-in-time view of a [Recorder]: the Go form of the seed's
// get_connection_metrics. It is read from the same counters that feed the
// OpenTelemetry instruments. Counts and connect times cover the period since
// the Recorder was created or last [Recorder.Reset] (Since); Active and
// Connections describe the present.
//
// JSON field names (durations are in seconds, as floats): active_connections,
// total_connections, failed_connections, reconnects, disconnects,
// reconnect_errors, async_errors, lame_duck_events, discovered_servers_events,
// average_connection_time, min_connection_time, max_connection_time,
// last_error, last_error_time, since, connections.
type Snapshot struct {
	// Active is the number of connections observed right now (not reset).
	Active int64
	// Opened is the number of successful dials through [Recorder.Dial].
	Opened int64
	// Failed is the number of failed dials through [Recorder.Dial].
	Failed int64
	// Reconnects and Disconnects count connection events of observed
	// connections. A deliberate Close is not a disconnect.
	Reconnects, Disconnects int64
	// ReconnectErrors counts failed reconnect attempts (needs
	// [Recorder.ConnOptions]).
	ReconnectErrors int64
	// AsyncErrors counts asynchronous errors (slow consumer, permissions...).
	AsyncErrors int64
	// LameDuckEvents counts lame-duck notices (needs [Recorder.ConnOptions]).
	LameDuckEvents int64
	// DiscoveredServersEvents counts server discovery notices.
	DiscoveredServersEvents int64
	// AvgConnectTime, MinConnectTime and MaxConnectTime cover successful
	// dials; zero when there were none.
	AvgConnectTime, MinConnectTime, MaxConnectTime time.Duration
	// LastError is the error.type ([ErrorType]) of the last failed dial or
	// connection error, never its message; "" when none.
	LastError string
	// LastErrorTime is when LastError happened (zero when none).
	LastErrorTime time.Time
	// Since is when the counting period started (creation or last Reset).
	Since time.Time
	// Connections describes each observed connection, sorted by name.
	Connections []ConnectionSnapshot
}

// ConnectionSnapshot is the present state of one observed connection, read
// from the same sources as the observable instruments.
//
// JSON field names: name, connected, rtt (seconds; omitted when no sample),
// in_msgs, out_msgs, in_bytes, out_bytes, reconnects.
type ConnectionSnapshot struct {
	// Name is the nats.connection.name attribute ("" when omitted).
	Name string
	// Connected reports whether the connection is connected now.
	Connected bool
	// RTT is the last background RTT sample; zero when the latest sample
	// failed or none was taken yet.
	RTT time.Duration
	// InMsgs, OutMsgs, InBytes, OutBytes and Reconnects are nats.go's
	// Statistics for the connection's lifetime.
	InMsgs, OutMsgs, InBytes, OutBytes, Reconnects uint64
}

// Snapshot returns the current view. It never blocks on the network and is
// safe for concurrent use.
func (r *Recorder) Snapshot() Snapshot {
	r.mu.Lock()
	obs := make([]*Observer, 0, len(r.observers))
	for _, o := range r.observers {
		obs = append(obs, o)
	}
	r.mu.Unlock()
	// Stop observers whose connection closed without running its closed
	// handler, so that Active is exact.
	live := obs[:0]
	for _, o := range obs {
		if o.nc.IsClosed() {
			o.reaping.Store(true)
			o.stop()
			continue
		}
		live = append(live, o)
	}

	r.mu.Lock()
	st := r.stats
	r.mu.Unlock()
	s := Snapshot{
		Active:                  r.activeCount(),
		Opened:                  st.opened,
		Failed:                  st.failed,
		Reconnects:              st.reconnects,
		Disconnects:             st.disconnects,
		ReconnectErrors:         st.reconnectErrors,
		AsyncErrors:             st.asyncErrors,
		LameDuckEvents:          st.lameDuck,
		DiscoveredServersEvents: st.discovered,
		MinConnectTime:          st.connectMin,
		MaxConnectTime:          st.connectMax,
		LastError:               st.lastError,
		LastErrorTime:           st.lastErrorTime,
		Since:                   st.since,
	}
	if st.connectCount > 0 {
		s.AvgConnectTime = st.connectSum / time.Duration(st.connectCount)
	}
	for _, o := range live {
		cs := ConnectionSnapshot{Name: o.name, Connected: o.nc.IsConnected()}
		if rtt, ok := o.RTT(); ok && cs.Connected {
			cs.RTT = rtt
		}
		ns := o.nc.Stats()
		cs.InMsgs, cs.OutMsgs, cs.InBytes, cs.OutBytes, cs.Reconnects =
			ns.InMsgs, ns.OutMsgs, ns.InBytes, ns.OutBytes, ns.Reconnects
		s.Connections = append(s.Connections, cs)
	}
	sort.SliceStable(s.Connections, func(i, j int) bool {
		return s.Connections[i].Name < s.Connections[j].Name
	})
	return s
}

// Reset starts a new counting period for [Recorder.Snapshot] (the seed's
// reset_connection_metrics): counts, connect times and the last error go back
// to zero. Active and Connections are current state and are not reset. The
// OpenTelemetry counters are monotonic and are NOT reset: backends compute
// rates from them, and a Snapshot delta is simply "since Reset".
func (r *Recorder) Reset() {
	r.mu.Lock()
	r.stats = counters{since: time.Now()}
	r.mu.Unlock()
}

type snapshotJSON struct {
	Active                  int64                `json:"active_connections"`
	Opened                  int64                `json:"total_connections"`
	Failed                  int64                `json:"failed_connections"`
	Reconnects              int64                `json:"reconnects"`
	Disconnects             int64                `json:"disconnects"`
	ReconnectErrors         int64                `json:"reconnect_errors"`
	AsyncErrors             int64                `json:"async_errors"`
	LameDuckEvents          int64                `json:"lame_duck_events"`
	DiscoveredServersEvents int64                `json:"discovered_servers_events"`
	AvgConnectTime          float64              `json:"average_connection_time"`
	MinConnectTime          float64              `json:"min_connection_time"`
	MaxConnectTime          float64              `json:"max_connection_time"`
	LastError               string               `json:"last_error,omitempty"`
	LastErrorTime           *time.Time           `json:"last_error_time,omitempty"`
	Since                   time.Time            `json:"since"`
	Connections             []ConnectionSnapshot `json:"connections"`
}

// MarshalJSON encodes the snapshot with the field names documented on
// [Snapshot]; durations are seconds.
func (s Snapshot) MarshalJSON() ([]byte, error) {
	j := snapshotJSON{
		Active: s.Active, Opened: s.Opened, Failed: s.Failed,
		Reconnects: s.Reconnects, Disconnects: s.Disconnects,
		ReconnectErrors: s.ReconnectErrors, AsyncErrors: s.AsyncErrors,
		LameDuckEvents: s.LameDuckEvents, DiscoveredServersEvents: s.DiscoveredServersEvents,
		AvgConnectTime: s.AvgConnectTime.Seconds(),
		MinConnectTime: s.MinConnectTime.Seconds(),
		MaxConnectTime: s.MaxConnectTime.Seconds(),
		LastError:      s.LastError,
		Since:          s.Since,
		Connections:    s.Connections,
	}
	if !s.LastErrorTime.IsZero() {
		t := s.LastErrorTime
		j.LastErrorTime = &t
	}
	if j.Connections == nil {
		j.Connections = []ConnectionSnapshot{}
	}
	return json.Marshal(j)
}

type connectionSnapshotJSON struct {
	Name       string   `json:"name"`
	Connected  bool     `json:"connected"`
	RTT        *float64 `json:"rtt,omitempty"`
	InMsgs     uint64   `json:"in_msgs"`
	OutMsgs    uint64   `json:"out_msgs"`
	InBytes    uint64   `json:"in_bytes"`
	OutBytes   uint64   `json:"out_bytes"`
	Reconnects uint64   `json:"reconnects"`
}

// MarshalJSON encodes the connection with the field names documented on
// [ConnectionSnapshot]; rtt is in seconds.
func (c ConnectionSnapshot) MarshalJSON() ([]byte, error) {
	j := connectionSnapshotJSON{
		Name: c.Name, Connected: c.Connected,
		InMsgs: c.InMsgs, OutMsgs: c.OutMsgs, InBytes: c.InBytes, OutBytes: c.OutBytes,
		Reconnects: c.Reconnects,
	}
	if c.RTT > 0 {
		v := c.RTT.Seconds()
		j.RTT = &v
	}
	return json.Marshal(j)
}
