//go:build !unix

package benchutil

import "time"

// ProcessCPU returns 0: process CPU time is read on unix systems only.
func ProcessCPU() time.Duration { return 0 }
