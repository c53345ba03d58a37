package conformance

import (
	"fmt"
	"strconv"
	"strings"
)

// The generated part of docs/conformance.md lies between these markers; the prose around it is written by hand.
const (
	beginMarker = "<!-- BEGIN GENERATED: go test ./src/testkit/conformance -run TestDoc -update (do not edit by hand) -->"
	endMarker   = "<!-- END GENERATED -->"
)

// column is one engine's column of the table.
type column struct {
	title string
	get   func(*Case) (outcome, string)
}

var columns = []column{
	{"comet netpoll", func(c *Case) (outcome, string) { return c.Comet, "" }},
	{"comet goroutine", func(c *Case) (outcome, string) { return goroutineOutcome(c), c.GoNote }},
	{"nginx + nchan", func(c *Case) (outcome, string) { return c.Nginx, c.NginxNote }},
}

// generated renders the summary, the table and the requests from Cases.
func generated() string {
	var b strings.Builder
	b.WriteString(beginMarker + "\n\n")
	summary(&b)
	b.WriteString("\n| id | clause | level | requirement | the RFC demands |")
	for _, col := range columns {
		b.WriteString(" " + col.title + " |")
	}
	b.WriteString("\n|---|---|---|---|---|" + strings.Repeat("---|", len(columns)) + "\n")
	for i := range Cases {
		c := &Cases[i]
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |", c.ID, c.Clause, c.Level, cell(c.Requirement), cell(c.Demands))
		for _, col := range columns {
			o, note := col.get(c)
			mark := "✓"
			if !c.conforms(o) {
				mark = "✗"
			}
			fmt.Fprintf(&b, " %s `%s`", mark, o)
			if note != "" {
				b.WriteString(": " + cell(note))
			}
			b.WriteString(" |")
		}
		b.WriteString("\n")
	}
	b.WriteString("\n### The requests\n\nEach row's bytes, as written to the socket (Go string syntax; long ones shortened here, " +
		"sent in full).\n\n| id | request |\n|---|---|\n")
	for i := range Cases {
		fmt.Fprintf(&b, "| `%s` | `%s` |\n", Cases[i].ID, cell(shorten(Cases[i].Raw)))
	}
	b.WriteString("\n" + endMarker + "\n")
	return b.String()
}

// summary counts rows and, per engine, the rows where it does not do what the RFC allows.
func summary(b *strings.Builder) {
	levels := map[string]int{}
	for i := range Cases {
		levels[Cases[i].Level]++
	}
	fmt.Fprintf(b, "**%d rows**: %d MUST, %d SHOULD, %d MAY, %d rule.\n\n", len(Cases), levels["MUST"], levels["SHOULD"],
		levels["MAY"], levels["rule"])
	for _, col := range columns {
		var must, other []string
		for i := range Cases {
			c := &Cases[i]
			if o, _ := col.get(c); !c.conforms(o) {
				if c.Level == "MUST" || c.Level == "rule" {
					must = append(must, "`"+c.ID+"`")
				} else {
					other = append(other, "`"+c.ID+"`")
				}
			}
		}
		fmt.Fprintf(b, "- **%s**: ", col.title)
		if len(must)+len(other) == 0 {
			b.WriteString("answers as the RFC says on every row.\n")
			continue
		}
		fmt.Fprintf(b, "deviates on %s%s and %s%s.\n", rows(len(must), "MUST"), list(must), rows(len(other), "SHOULD/MAY"),
			list(other))
	}
}

func rows(n int, level string) string {
	if n == 1 {
		return "1 " + level + " row"
	}
	return fmt.Sprintf("%d %s rows", n, level)
}

func list(ids []string) string {
	if len(ids) == 0 {
		return ""
	}
	return " (" + strings.Join(ids, ", ") + ")"
}

// cell keeps text inside one table cell.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// shorten quotes raw, cut to a readable length with its size in bytes.
func shorten(raw string) string {
	const max = 100
	q := strconv.Quote(raw)
	if len(q) <= max {
		return q
	}
	return fmt.Sprintf("%s… (%d bytes)", q[:max], len(raw))
}
