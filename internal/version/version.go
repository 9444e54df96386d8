// Package version holds naq's version, the one every package's Version
// constant and every tracer and meter of the library report.
package version

// Version is the version of the naq module.
const Version = "0.1.0"
