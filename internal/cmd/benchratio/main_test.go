package main

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const input = `goos: linux
goarch: amd64
pkg: github.com/naq-io/naq/instrument
cpu: Some CPU
BenchmarkKV
BenchmarkKV/put/raw
BenchmarkKV/put/raw-2         	   10000	    100000 ns/op	    4000 B/op	      50 allocs/op
BenchmarkKV/put/raw-2         	   10000	    120000 ns/op	    4000 B/op	      50 allocs/op
BenchmarkKV/put/raw-2         	   10000	    110000 ns/op	    4000 B/op	      50 allocs/op
BenchmarkKV/put/naq/sampled-2 	   10000	    105000 ns/op	    9000 B/op	      70 allocs/op
BenchmarkKV/put/naq/sampled-2 	   10000	    132000 ns/op	    9000 B/op	      70 allocs/op
BenchmarkKV/put/naq/sampled-2 	   10000	    110000 ns/op	    9000 B/op	      71 allocs/op
BenchmarkKV/put/floor/span-2  	 1000000	      2000 ns/op	    1300 B/op	       5 allocs/op
BenchmarkKV/put/floor/span-2  	 1000000	      2000 ns/op	    1300 B/op	       5 allocs/op
BenchmarkKV/put/floor/span-2  	 1000000	      2000 ns/op	    1300 B/op	       5 allocs/op
BenchmarkKV/put/floor/metrics_sampled-2 	 1000000	      1000 ns/op	       0 B/op	       0 allocs/op
BenchmarkKV/put/floor/metrics_sampled-2 	 1000000	      1000 ns/op	       0 B/op	       0 allocs/op
BenchmarkKV/put/floor/metrics_sampled-2 	 1000000	      1000 ns/op	       0 B/op	       0 allocs/op
BenchmarkKV/put/floor/seq_sampled-2 	   10000	    100000 ns/op	    5300 B/op	      55 allocs/op
BenchmarkKV/put/floor/seq_sampled-2 	   10000	    110000 ns/op	    5300 B/op	      55 allocs/op
BenchmarkKV/put/floor/seq_sampled-2 	   10000	    100000 ns/op	    5300 B/op	      55 allocs/op
BenchmarkKV/get/raw-2         	   10000	    100000 ns/op	    4000 B/op	      50 allocs/op
PASS
ok  	github.com/naq-io/naq/instrument	12.3s
`

func TestParseLine(t *testing.T) {
	name, s, ok := parseLine("BenchmarkPublish/fake/naq/sampled-2   \t  264021\t      4512 ns/op\t    1219 B/op\t      12 allocs/op")
	require.True(t, ok)
	assert.Equal(t, "BenchmarkPublish/fake/naq/sampled", name)
	assert.Equal(t, 4512.0, s.ns)
	assert.Equal(t, 12.0, s.allocs)
	assert.Equal(t, 1219.0, s.bytes)
	assert.True(t, s.hasMem)
	assert.True(t, math.IsNaN(s.cpu))

	_, s, ok = parseLine("BenchmarkPublish/fake/raw-2   \t  100\t  74853 ns/op\t  262000 cpu-ns/op\t  88 B/op\t  2 allocs/op")
	require.True(t, ok)
	assert.Equal(t, 262000.0, s.cpu)
	assert.Equal(t, 262000.0, s.value(cpuUnit))
	assert.Equal(t, 74853.0, s.value(wallUnit))

	// GOMAXPROCS=1 has no suffix; custom metrics are skipped.
	name, s, ok = parseLine("BenchmarkX/a 	 100	 12.5 ns/op	 3.0 ratio")
	require.True(t, ok)
	assert.Equal(t, "BenchmarkX/a", name)
	assert.Equal(t, 12.5, s.ns)
	assert.False(t, s.hasMem)

	for _, l := range []string{"BenchmarkKV", "BenchmarkKV/put/raw", "PASS", "pkg: x", "ok  	x	1s",
		"Benchmark-2  x  1 ns/op", "BenchmarkY-2 10 3 allocs/op 0 B/op"} {
		_, _, ok := parseLine(l)
		assert.False(t, ok, l)
	}
}

func TestCompute(t *testing.T) {
	res, err := parse(strings.NewReader(input))
	require.NoError(t, err)
	require.Len(t, res["BenchmarkKV/put/raw"], 3)

	var put row
	for _, r := range rows() {
		if r.path == "KV put sampled" {
			put = r
		}
	}
	c, missing, ok := compute(res, put, wallUnit)
	require.True(t, ok, "missing %v", missing)
	// Pairs by index: naq/raw = 1.05, 1.10, 1.00; floor = raw + 3000.
	assert.Equal(t, stat{110000, 105000, 132000}, c.naq)
	assertStat(t, stat{1.05, 1.00, 1.10}, c.ratioRaw)
	assertStat(t, stat{105000.0 / 103000, 110000.0 / 113000, 132000.0 / 123000}, c.ratioFlr)
	assertStat(t, stat{2000, -3000, 9000}, c.own)
	// naq/seq pairs with the sequence floor: 1.05, 1.20, 1.10.
	require.True(t, c.hasSeq)
	assertStat(t, stat{1.10, 1.05, 1.20}, c.ratioSeq)
	assert.Equal(t, [3]float64{70, 50, 55}, c.allocs)

	var get row
	for _, r := range rows() {
		if r.path == "KV get sampled" {
			get = r
		}
	}
	_, missing, ok = compute(res, get, wallUnit)
	assert.False(t, ok)
	assert.Contains(t, missing, "BenchmarkKV/get/naq/sampled")
}

// Without its sequence floor (an older commit's output, or a -bench filter
// leaving it out) a row is still computed, without naq/seq; only -strict
// counts the sequence floor as missing.
func TestComputeWithoutSequenceFloor(t *testing.T) {
	var lines []string
	for _, l := range strings.Split(input, "\n") {
		if !strings.Contains(l, "seq_sampled") {
			lines = append(lines, l)
		}
	}
	res, err := parse(strings.NewReader(strings.Join(lines, "\n")))
	require.NoError(t, err)
	for _, r := range rows() {
		if r.path != "KV put sampled" {
			continue
		}
		c, missing, ok := compute(res, r, wallUnit)
		require.True(t, ok, "missing %v", missing)
		assert.False(t, c.hasSeq)
		assertStat(t, stat{1.05, 1.00, 1.10}, c.ratioRaw)
	}
	var out bytes.Buffer
	partial, all := report(&out, res, rows(), wallUnit, false)
	assert.Contains(t, out.String(), "KV put sampled")
	assert.Contains(t, all, "BenchmarkKV/put/floor/seq_sampled")
	assert.NotContains(t, partial, "BenchmarkKV/put/floor/seq_sampled")
}

func assertStat(t *testing.T, want, got stat) {
	t.Helper()
	for i, p := range [][2]float64{{want.med, got.med}, {want.lo, got.lo}, {want.hi, got.hi}} {
		assert.InDelta(t, p[0], p[1], 1e-9, "field %d: want %+v, got %+v", i, want, got)
	}
}

func TestSummarize(t *testing.T) {
	assert.Equal(t, stat{2, 1, 3}, summarize([]float64{3, 1, 2}))
	assert.Equal(t, stat{2.5, 1, 4}, summarize([]float64{4, 1, 3, 2}))
	assert.True(t, math.IsNaN(summarize(nil).med))
}

func TestReport(t *testing.T) {
	res, err := parse(strings.NewReader(input))
	require.NoError(t, err)
	var out bytes.Buffer
	partial, all := report(&out, res, rows(), wallUnit, false)
	text := out.String()
	assert.Contains(t, text, "KV put sampled")
	assert.Contains(t, text, "1.05× [1.00–1.10]")
	assert.Contains(t, text, "1.10× [1.05–1.20]")
	assert.Contains(t, text, "70 / 50 / 55")
	assert.NotContains(t, text, "KV get sampled")
	// KV get is partly present: its missing benchmarks are reported; the
	// absent paths only count for -strict.
	assert.Contains(t, partial, "BenchmarkKV/get/naq/sampled")
	assert.NotContains(t, partial, "BenchmarkPublish/fake/raw")
	assert.Contains(t, all, "BenchmarkPublish/fake/raw")

	out.Reset()
	report(&out, res, rows(), wallUnit, true)
	assert.True(t, strings.HasPrefix(out.String(), "| path | naq ns/op |"), out.String())

	out.Reset()
	report(&out, results{}, rows(), wallUnit, false)
	assert.Contains(t, out.String(), "no path of the table is complete")

	// Without cpu-ns/op in the input there is no CPU row and nothing missing.
	out.Reset()
	partial, _ = report(&out, res, rows(), cpuUnit, false)
	assert.Contains(t, out.String(), "no path of the table is complete in cpu-ns/op")
	assert.NotContains(t, partial, "BenchmarkKV/put/raw")
}

func TestListParts(t *testing.T) {
	res, err := parse(strings.NewReader(input))
	require.NoError(t, err)
	var out bytes.Buffer
	listParts(&out, res, rows(), wallUnit, false)
	text := out.String()
	assert.Contains(t, text, "BenchmarkKV/put/floor/span")
	assert.Contains(t, text, "2.00µs [2.00µs–2.00µs]")
	assert.Equal(t, 1, strings.Count(text, "BenchmarkKV/put/raw "), text)
	assert.NotContains(t, text, "BenchmarkPublish")
}

func TestRowsAreConsistent(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range rows() {
		assert.False(t, seen[r.path], "duplicate path %q", r.path)
		seen[r.path] = true
		assert.NotEmpty(t, r.floor, r.path)
		for _, b := range append([]string{r.naq, r.raw}, r.floor...) {
			if b != "" {
				assert.True(t, strings.HasPrefix(b, "Benchmark"), b)
				assert.NotRegexp(t, `-\d+$`, b)
			}
		}
		assert.Contains(t, r.naq, "/naq/", r.path)
		if r.seq != "" {
			assert.Contains(t, r.seq, "/floor/seq_", r.path)
			assert.NotRegexp(t, `-\d+$`, r.seq)
		}
	}
}

func TestIntersect(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "old.txt")
	cur := filepath.Join(dir, "new.txt")
	require.NoError(t, os.WriteFile(old, []byte(`pkg: a
BenchmarkA-2 	 10	 5 ns/op
BenchmarkGone-2 	 10	 5 ns/op
pkg: b
BenchmarkA-2 	 10	 7 ns/op
`), 0o644))
	require.NoError(t, os.WriteFile(cur, []byte(`pkg: a
BenchmarkA-2 	 10	 4 ns/op
BenchmarkNew-2 	 10	 5 ns/op
pkg: b
BenchmarkA-2 	 10	 8 ns/op
`), 0o644))
	var out bytes.Buffer
	require.NoError(t, intersectFiles(old, cur, &out))
	assert.Contains(t, out.String(), "2 benchmark(s) in both; 1 only in")
	assert.Contains(t, out.String(), "a BenchmarkGone")
	assert.Contains(t, out.String(), "a BenchmarkNew")
	o, err := os.ReadFile(old + ".common")
	require.NoError(t, err)
	assert.Equal(t, "pkg: a\nBenchmarkA-2 	 10	 5 ns/op\npkg: b\nBenchmarkA-2 	 10	 7 ns/op\n", string(o))
	n, err := os.ReadFile(cur + ".common")
	require.NoError(t, err)
	assert.NotContains(t, string(n), "BenchmarkNew")
}
