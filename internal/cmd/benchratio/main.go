// Command benchratio reads `go test -bench -benchmem` output and prints,
// for each instrumented path of instrument/bench_truth_test.go, how naq
// compares with raw nats.go and with the dependency floors (see
// docs/benchmarks.md):
//
//	go test -run '^$' -bench . -benchmem -count 5 ./instrument | go run ./internal/cmd/benchratio
//
// Ratios pair the i-th result of each benchmark (one per -count): naq/raw is
// naq_i / raw_i, naq/floor is naq_i / Σ floor_i, own is naq_i − Σ floor_i,
// naq/seq is naq_i / seq_i (the sequence floor: the dependencies of the
// whole call in one loop, where the path has one);
// each column shows the median over i and [min–max]. allocs/op are medians.
// One table is computed from wall time (ns/op), a second from process CPU
// time (cpu-ns/op, reported by benchutil.ReportCPU) when the input has it;
// -unit picks one.
// Paths whose benchmarks are all absent are left out; partly present ones
// are reported. With -strict a missing benchmark is an error (the smoke run
// of make test uses it, so the table cannot drift from the benchmarks).
//
// benchratio intersect OLD NEW writes OLD.common and NEW.common with only
// the benchmark results present in both files (configuration lines kept)
// and lists the others, for comparing two commits with benchstat.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "intersect" {
		if len(os.Args) != 4 {
			fmt.Fprintln(os.Stderr, "usage: benchratio intersect OLD NEW")
			os.Exit(2)
		}
		if err := intersectFiles(os.Args[2], os.Args[3], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "benchratio:", err)
			os.Exit(1)
		}
		return
	}
	strict := flag.Bool("strict", false, "fail when a benchmark of the table is missing")
	md := flag.Bool("md", false, "print Markdown tables")
	unit := flag.String("unit", "", "ns/op (wall time) or cpu-ns/op (process CPU time); default both, when present")
	parts := flag.Bool("parts", false, "also list every benchmark of the table (median [min–max], allocs)")
	flag.Parse()
	res, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchratio:", err)
		os.Exit(1)
	}
	units := []string{wallUnit, cpuUnit}
	if *unit != "" {
		units = []string{*unit}
	}
	var partial, all []string
	for i, u := range units {
		if u == cpuUnit && *unit == "" && !hasCPU(res) {
			continue
		}
		if i > 0 {
			fmt.Println()
		}
		title := map[string]string{wallUnit: "wall time (ns/op)", cpuUnit: "process CPU time (cpu-ns/op)"}[u]
		if *md {
			fmt.Printf("%s:\n\n", title)
		} else {
			fmt.Printf("%s; median [min–max] over the runs\n", title)
		}
		partial, all = report(os.Stdout, res, rows(), u, *md)
		if *parts {
			fmt.Println()
			listParts(os.Stdout, res, rows(), u, *md)
		}
	}
	missing := partial
	if *strict {
		missing = all
	}
	if len(missing) > 0 {
		fmt.Fprintf(os.Stderr, "benchratio: %d benchmark(s) of the table missing from the input:\n\t%s\n",
			len(missing), strings.Join(missing, "\n\t"))
		if *strict {
			os.Exit(1)
		}
	}
}

// sample is one benchmark result line.
type sample struct {
	ns, cpu, allocs, bytes float64 // cpu: cpu-ns/op, NaN when not reported
	hasMem                 bool
}

// value returns the sample's time in unit (ns/op or cpu-ns/op).
func (s sample) value(unit string) float64 {
	if unit == cpuUnit {
		return s.cpu
	}
	return s.ns
}

const (
	wallUnit = "ns/op"
	cpuUnit  = "cpu-ns/op" // benchutil.CPUUnit
)

// results are the samples of each benchmark, in input order.
type results map[string][]sample

var procSuffix = regexp.MustCompile(`-\d+$`)

// parseLine parses a benchmark result line: name, iterations, then value
// unit pairs. ok is false for any other line.
func parseLine(line string) (name string, s sample, ok bool) {
	f := strings.Fields(line)
	if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
		return "", s, false
	}
	if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
		return "", s, false
	}
	seenNs := false
	s.cpu = math.NaN()
	for i := 2; i+1 < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return "", s, false
		}
		switch f[i+1] {
		case wallUnit:
			s.ns, seenNs = v, true
		case cpuUnit:
			s.cpu = v
		case "allocs/op":
			s.allocs, s.hasMem = v, true
		case "B/op":
			s.bytes = v
		}
	}
	return procSuffix.ReplaceAllString(f[0], ""), s, seenNs
}

func parse(r io.Reader) (results, error) {
	res := results{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if name, s, ok := parseLine(sc.Text()); ok {
			res[name] = append(res[name], s)
		}
	}
	return res, sc.Err()
}

// listParts prints each benchmark the table uses, once, in table order:
// median [min–max] in unit and median allocs/op.
func listParts(w io.Writer, res results, rs []row, unit string, md bool) {
	seen := map[string]bool{}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if md {
		fmt.Fprintf(w, "| benchmark | %s | allocs/op |\n|---|---|---|\n", unit)
	} else {
		fmt.Fprintf(tw, "benchmark\t%s\tallocs/op\n", unit)
	}
	for _, r := range rs {
		for _, b := range append([]string{r.naq, r.raw, r.seq}, r.floor...) {
			if b == "" || seen[b] || len(res[b]) == 0 {
				continue
			}
			seen[b] = true
			var v, a []float64
			for _, s := range res[b] {
				v = append(v, s.value(unit))
				a = append(a, s.allocs)
			}
			st := summarize(v)
			if math.IsNaN(st.med) {
				continue
			}
			line := []string{b, fmtNs(st), strconv.FormatFloat(summarize(a).med, 'f', -1, 64)}
			if md {
				fmt.Fprintln(w, "| "+strings.Join(line, " | ")+" |")
			} else {
				fmt.Fprintln(tw, strings.Join(line, "\t"))
			}
		}
	}
	_ = tw.Flush()
}

// hasCPU reports whether any result has cpu-ns/op.
func hasCPU(res results) bool {
	for _, ss := range res {
		for _, s := range ss {
			if !math.IsNaN(s.cpu) {
				return true
			}
		}
	}
	return false
}

// stat is a median with its range.
type stat struct{ med, lo, hi float64 }

func summarize(v []float64) stat {
	if len(v) == 0 {
		return stat{math.NaN(), math.NaN(), math.NaN()}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return stat{med, s[0], s[len(s)-1]}
}

// computed is one row of the table.
type computed struct {
	path                    string
	naq, ratioRaw, ratioFlr stat
	ratioSeq                stat
	hasSeq                  bool
	own                     stat // naq − floor, ns
	floorNs                 stat
	allocs                  [3]float64 // naq, raw, floor (medians); NaN = unknown
	hasRaw                  bool
}

// compute pairs the samples of r's benchmarks by index. missing lists the
// benchmarks of r absent from res; ok is false when the row cannot be
// computed (its naq benchmark or a floor is missing).
func compute(res results, r row, unit string) (c computed, missing []string, ok bool) {
	need := append([]string{r.naq}, r.floor...)
	if r.raw != "" {
		need = append(need, r.raw)
	}
	n := math.MaxInt
	for _, b := range need {
		if len(res[b]) == 0 {
			missing = append(missing, b)
			continue
		}
		n = min(n, len(res[b]))
	}
	if len(missing) > 0 {
		return c, missing, false
	}
	for _, b := range need {
		for _, s := range res[b][:n] {
			if math.IsNaN(s.value(unit)) {
				return c, nil, false // not measured in this unit: no row, nothing missing
			}
		}
	}
	// The sequence floor is optional: outputs of commits before it (the
	// base side of bench-diff) or of a -bench filter leaving it out still
	// give the row, without naq/seq (-strict reports it missing).
	c.path, c.hasRaw = r.path, r.raw != ""
	if r.seq != "" && len(res[r.seq]) >= n {
		c.hasSeq = true
		for _, s := range res[r.seq][:n] {
			c.hasSeq = c.hasSeq && !math.IsNaN(s.value(unit))
		}
	}
	var naq, ratioRaw, ratioFlr, ratioSeq, own, floor, naqAllocs, rawAllocs, floorAllocs []float64
	for i := range n {
		x := res[r.naq][i].value(unit)
		f, fa := 0.0, 0.0
		for _, b := range r.floor {
			f += res[b][i].value(unit)
			fa += res[b][i].allocs
		}
		naq = append(naq, x)
		floor = append(floor, f)
		ratioFlr = append(ratioFlr, x/f)
		own = append(own, x-f)
		naqAllocs = append(naqAllocs, res[r.naq][i].allocs)
		floorAllocs = append(floorAllocs, fa)
		if c.hasRaw {
			ratioRaw = append(ratioRaw, x/res[r.raw][i].value(unit))
			rawAllocs = append(rawAllocs, res[r.raw][i].allocs)
		}
		if c.hasSeq {
			ratioSeq = append(ratioSeq, x/res[r.seq][i].value(unit))
		}
	}
	if c.hasSeq {
		c.ratioSeq = summarize(ratioSeq)
	}
	c.naq, c.floorNs, c.ratioFlr, c.own = summarize(naq), summarize(floor), summarize(ratioFlr), summarize(own)
	c.allocs = [3]float64{summarize(naqAllocs).med, math.NaN(), summarize(floorAllocs).med}
	if c.hasRaw {
		c.ratioRaw = summarize(ratioRaw)
		c.allocs[1] = summarize(rawAllocs).med
	}
	if !res[r.naq][0].hasMem {
		c.allocs = [3]float64{math.NaN(), math.NaN(), math.NaN()}
	}
	return c, nil, true
}

// report prints the table. It returns the benchmarks missing from res:
// partial lists those of paths that are partly present (worth a warning),
// all those of every path (what -strict checks).
func report(w io.Writer, res results, rs []row, unit string, md bool) (partial, all []string) {
	var out []computed
	for _, r := range rs {
		c, miss, ok := compute(res, r, unit)
		if ok {
			out = append(out, c)
			if r.seq != "" && len(res[r.seq]) == 0 {
				all = append(all, r.seq)
			}
			continue
		}
		if len(miss) == 0 {
			continue // present, not measured in unit
		}
		all = append(all, miss...)
		present := len(res[r.naq]) > 0 || len(res[r.raw]) > 0
		for _, f := range r.floor {
			present = present || len(res[f]) > 0
		}
		if present {
			partial = append(partial, miss...)
		}
	}
	slices.Sort(partial)
	partial = slices.Compact(partial)
	slices.Sort(all)
	all = slices.Compact(all)
	if len(out) == 0 {
		fmt.Fprintf(w, "benchratio: no path of the table is complete in %s in the input\n", unit)
		return partial, all
	}
	header := []string{"path", "naq " + unit, "naq/raw", "naq/seq", "naq/floor", "own ns (naq−floor)", "floor " + unit, "allocs naq/raw/floor"}
	if md {
		fmt.Fprintln(w, "| "+strings.Join(header, " | ")+" |")
		fmt.Fprintln(w, "|"+strings.Repeat("---|", len(header)))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if !md {
		fmt.Fprintln(tw, strings.Join(header, "\t"))
	}
	for _, c := range out {
		rr := "–"
		if c.hasRaw {
			rr = fmtRatio(c.ratioRaw)
		}
		rs := "–"
		if c.hasSeq {
			rs = fmtRatio(c.ratioSeq)
		}
		cells := []string{c.path, fmtNs(c.naq), rr, rs, fmtRatio(c.ratioFlr), fmtOwn(c.own), fmtNs(c.floorNs), fmtAllocs(c.allocs)}
		if md {
			fmt.Fprintln(w, "| "+strings.Join(cells, " | ")+" |")
		} else {
			fmt.Fprintln(tw, strings.Join(cells, "\t"))
		}
	}
	_ = tw.Flush()
	return partial, all
}

func fmtNs(s stat) string {
	return fmt.Sprintf("%s [%s–%s]", ns(s.med), ns(s.lo), ns(s.hi))
}

func ns(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100_000:
		return fmt.Sprintf("%.0fµs", v/1000)
	case a >= 10_000:
		return fmt.Sprintf("%.1fµs", v/1000)
	case a >= 1000:
		return fmt.Sprintf("%.2fµs", v/1000)
	default:
		return fmt.Sprintf("%.0fns", v)
	}
}

func fmtRatio(s stat) string { return fmt.Sprintf("%.2f× [%.2f–%.2f]", s.med, s.lo, s.hi) }

func fmtOwn(s stat) string {
	sign := func(v float64) string {
		if v >= 0 {
			return "+" + ns(v)
		}
		return ns(v)
	}
	return fmt.Sprintf("%s [%s…%s]", sign(s.med), sign(s.lo), sign(s.hi))
}

func fmtAllocs(a [3]float64) string {
	parts := make([]string, 3)
	for i, v := range a {
		if math.IsNaN(v) {
			parts[i] = "–"
		} else {
			parts[i] = strconv.FormatFloat(v, 'f', -1, 64)
		}
	}
	return strings.Join(parts, " / ")
}

// intersectFiles writes old.common and new.common, keeping configuration
// and other lines but only the benchmark results whose package and name
// appear in both, and prints what was left out.
func intersectFiles(oldPath, newPath string, w io.Writer) error {
	read := func(p string) ([]string, map[string]bool, error) {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, nil, err
		}
		lines := strings.Split(string(b), "\n")
		return lines, keys(lines), nil
	}
	oldLines, oldKeys, err := read(oldPath)
	if err != nil {
		return err
	}
	newLines, newKeys, err := read(newPath)
	if err != nil {
		return err
	}
	if err := os.WriteFile(oldPath+".common", []byte(strings.Join(filter(oldLines, newKeys), "\n")), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(newPath+".common", []byte(strings.Join(filter(newLines, oldKeys), "\n")), 0o644); err != nil {
		return err
	}
	onlyOld, onlyNew := diffKeys(oldKeys, newKeys), diffKeys(newKeys, oldKeys)
	common := 0
	for k := range oldKeys {
		if newKeys[k] {
			common++
		}
	}
	fmt.Fprintf(w, "%d benchmark(s) in both; %d only in %s, %d only in %s (left out of the comparison)\n",
		common, len(onlyOld), oldPath, len(onlyNew), newPath)
	for _, l := range []struct {
		name string
		keys []string
	}{{oldPath, onlyOld}, {newPath, onlyNew}} {
		if len(l.keys) > 0 {
			fmt.Fprintf(w, "only in %s:\n\t%s\n", l.name, strings.Join(l.keys, "\n\t"))
		}
	}
	return nil
}

// keys returns "pkg name" of every benchmark result in lines.
func keys(lines []string) map[string]bool {
	k := map[string]bool{}
	pkg := ""
	for _, l := range lines {
		if p, ok := strings.CutPrefix(l, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		if name, _, ok := parseLine(l); ok {
			k[pkg+" "+name] = true
		}
	}
	return k
}

func filter(lines []string, keep map[string]bool) []string {
	var out []string
	pkg := ""
	for _, l := range lines {
		if p, ok := strings.CutPrefix(l, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
		}
		if name, _, ok := parseLine(l); ok && !keep[pkg+" "+name] {
			continue
		}
		out = append(out, l)
	}
	return out
}

func diffKeys(a, b map[string]bool) []string {
	var out []string
	for k := range a {
		if !b[k] {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}
