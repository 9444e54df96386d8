package benchutil

import (
	"testing"
	"time"
)

// CPUUnit is the unit of the metric [ReportCPU] reports.
const CPUUnit = "cpu-ns/op"

// ReportCPU reports the process CPU time (user + system, every thread:
// the code under test, nats.go's goroutines, an embedded server, the
// garbage collector) spent since start, per op over n ops, as cpu-ns/op.
// On a shared machine wall time (ns/op) includes the time the process
// waited for a CPU; CPU time does not. It reports nothing where process
// CPU time is unknown (start or now zero).
func ReportCPU(b *testing.B, start time.Duration, n int) {
	now := ProcessCPU()
	if start == 0 || now == 0 || n <= 0 {
		return
	}
	b.ReportMetric(float64(now-start)/float64(n), CPUUnit)
}
