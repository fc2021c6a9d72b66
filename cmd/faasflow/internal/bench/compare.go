package bench

import (
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Row is one figure of a report as ParseMarkdown reads it back: its label
// (the row's first cell, with the column's name when the table has
// several), its text and the first number in it.
type Row struct {
	Label string
	Text  string
	Value float64 // NaN when the text holds no number
}

var number = regexp.MustCompile(`-?[0-9][0-9,]*(\.[0-9]+)?`)

// firstNumber is the first decimal number in s (thousands separators
// allowed), or NaN.
func firstNumber(s string) float64 {
	m := number.FindString(s)
	if m == "" {
		return math.NaN()
	}
	v, err := strconv.ParseFloat(strings.ReplaceAll(m, ",", ""), 64)
	if err != nil {
		return math.NaN()
	}
	return v
}

// cells splits a Markdown table line into its trimmed cells.
func cells(line string) []string {
	line = strings.TrimSpace(line)
	line = strings.TrimSuffix(strings.TrimPrefix(line, "|"), "|")
	parts := strings.Split(line, "|")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// ParseMarkdown reads the figures of a report rendered by Markdown (of this
// faasflow or of an earlier one) back, in order. A table with more than
// one value column gives a row per column ("... (p50)", "... (p99)"); the
// count column n is left out.
func ParseMarkdown(md string) []Row {
	var rows []Row
	var header []string
	lines := strings.Split(md, "\n")
	for i, line := range lines {
		if !strings.HasPrefix(strings.TrimSpace(line), "|") {
			header = nil
			continue
		}
		if i+1 < len(lines) && strings.HasPrefix(strings.TrimSpace(lines[i+1]), "|---") {
			header = cells(line)
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(line), "|---") || header == nil {
			continue
		}
		c := cells(line)
		label := strings.ReplaceAll(c[0], "**", "")
		for j := 1; j < len(c) && j < len(header); j++ {
			if header[j] == "n" {
				continue
			}
			l := label
			if len(header) > 2 {
				l = fmt.Sprintf("%s (%s)", label, header[j])
			}
			rows = append(rows, Row{Label: l, Text: c[j], Value: firstNumber(c[j])})
		}
	}
	return rows
}

// Pair is one old run and one new run, each parsed by ParseMarkdown.
type Pair struct{ Old, New []Row }

// Comparison is one figure over every pair.
type Comparison struct {
	Label string
	// Old and New hold the figure's text in each pair ("" where that run
	// lacks it), Ratios new/old per pair (NaN where either lacks it).
	Old, New []string
	Ratios   []float64
	Median   float64 // of the ratios that exist; NaN when none does
}

// Compare sets the figures of the pairs side by side, in the order of the
// new reports (then any only the old ones have).
func Compare(pairs []Pair) []Comparison {
	var order []string
	seen := map[string]bool{}
	add := func(rows []Row) {
		for _, r := range rows {
			if !seen[r.Label] {
				seen[r.Label] = true
				order = append(order, r.Label)
			}
		}
	}
	for _, p := range pairs {
		add(p.New)
	}
	for _, p := range pairs {
		add(p.Old)
	}
	out := make([]Comparison, 0, len(order))
	for _, label := range order {
		c := Comparison{Label: label}
		for _, p := range pairs {
			o, hasOld := find(p.Old, label)
			n, hasNew := find(p.New, label)
			c.Old, c.New = append(c.Old, o.Text), append(c.New, n.Text)
			c.Ratios = append(c.Ratios, pairRatio(o, n, hasOld && hasNew))
		}
		c.Median = Median(c.Ratios)
		out = append(out, c)
	}
	return out
}

// pairRatio is new/old: 1 when both are 0 (no failed requests in either),
// NaN when either is missing or only old is 0.
func pairRatio(o, n Row, both bool) float64 {
	switch {
	case !both:
		return math.NaN()
	case o.Value == 0 && n.Value == 0:
		return 1
	case o.Value == 0:
		return math.NaN()
	}
	return n.Value / o.Value
}

func find(rows []Row, label string) (Row, bool) {
	for _, r := range rows {
		if r.Label == label {
			return r, true
		}
	}
	return Row{}, false
}

// Median is the median of the numbers of xs that are not NaN (the mean of
// the middle two for an even count), or NaN when there are none.
func Median(xs []float64) float64 {
	var s []float64
	for _, x := range xs {
		if !math.IsNaN(x) {
			s = append(s, x)
		}
	}
	if len(s) == 0 {
		return math.NaN()
	}
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// ratio formats a ratio, "–" for NaN.
func ratio(x float64) string {
	if math.IsNaN(x) {
		return "–"
	}
	return fmt.Sprintf("%.2f×", x)
}

// orDash is s, or "–" when empty.
func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

// RenderComparison renders the comparisons as Markdown: a summary table of
// the median ratios, then a table per figure with every pair. oldName and
// newName head the columns.
func RenderComparison(cs []Comparison, oldName, newName string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "| figure | median of new/old over the pairs |\n|---|---|\n")
	for _, c := range cs {
		note := ratio(c.Median)
		if math.IsNaN(c.Median) {
			note = "– (" + missingSide(c) + ")"
		}
		fmt.Fprintf(&b, "| %s | %s |\n", c.Label, note)
	}
	for _, c := range cs {
		fmt.Fprintf(&b, "\n**%s**\n\n| pair | old: %s | new: %s | new/old |\n|---|---|---|---|\n", c.Label, oldName, newName)
		for i := range c.Ratios {
			fmt.Fprintf(&b, "| %d | %s | %s | %s |\n", i+1, orDash(c.Old[i]), orDash(c.New[i]), ratio(c.Ratios[i]))
		}
		fmt.Fprintf(&b, "| median | | | %s |\n", ratio(c.Median))
	}
	return b.String()
}

// missingSide says which runs lack the figure c.
func missingSide(c Comparison) string {
	for i := range c.Old {
		if c.Old[i] == "" && c.New[i] != "" {
			return "not measured by the old binary"
		}
		if c.New[i] == "" && c.Old[i] != "" {
			return "not measured by the new binary"
		}
	}
	return "no number"
}
