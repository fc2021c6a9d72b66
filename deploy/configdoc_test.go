package deploy

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// setting is one row of a table of docs/configuration.md.
type setting struct {
	name     string
	aliases  []string
	source   string // "env" or "secret"
	def      string // the default, without backquotes; "" for none
	nameFrom string // for a secret: the env setting that renames it
}

// configDoc is what docs/configuration.md documents.
type configDoc struct {
	settings map[string]setting
	// watchdog holds the watchdog variables the page names (exec_timeout...),
	// which a stack may set although the flow itself does not read them.
	watchdog map[string]bool
}

var backquoted = regexp.MustCompile("`([^`]+)`")

// readConfigDoc parses the Markdown tables of the configuration reference:
// the first column is "`name`" or "`name` (then `old`, ...)", the second
// the source ("env", "secret", "secret (name from `setting`)"), the third
// the default.
func readConfigDoc(path string) (configDoc, error) {
	f, err := os.Open(path)
	if err != nil {
		return configDoc{}, err
	}
	defer f.Close()
	doc := configDoc{settings: map[string]setting{}, watchdog: map[string]bool{}}
	inWatchdog := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "The watchdog's own variables") {
			inWatchdog = true
		}
		if inWatchdog {
			for _, m := range backquoted.FindAllStringSubmatch(line, -1) {
				doc.watchdog[m[1]] = true
			}
			inWatchdog = strings.TrimSpace(line) != ""
			continue
		}
		if s, ok := parseSettingRow(line); ok {
			doc.settings[s.name] = s
		}
	}
	if err := sc.Err(); err != nil {
		return configDoc{}, err
	}
	if len(doc.settings) < 20 || len(doc.watchdog) == 0 {
		return configDoc{}, fmt.Errorf("%s: found %d settings and %d watchdog variables: has the page's layout changed?",
			path, len(doc.settings), len(doc.watchdog))
	}
	return doc, nil
}

// parseSettingRow parses one table row; header and separator rows, and
// lines that are no row, give false.
func parseSettingRow(line string) (setting, bool) {
	if !strings.HasPrefix(line, "| `") {
		return setting{}, false
	}
	cells := strings.Split(strings.Trim(line, "|"), " | ")
	if len(cells) < 3 {
		return setting{}, false
	}
	names := backquoted.FindAllStringSubmatch(cells[0], -1)
	if len(names) == 0 {
		return setting{}, false
	}
	s := setting{name: names[0][1], def: strings.Trim(strings.TrimSpace(cells[2]), "`")}
	for _, n := range names[1:] {
		s.aliases = append(s.aliases, n[1])
	}
	if s.def == "—" {
		s.def = ""
	}
	src := strings.TrimSpace(cells[1])
	s.source, _, _ = strings.Cut(src, " ")
	if m := backquoted.FindStringSubmatch(src); m != nil {
		s.nameFrom = m[1]
	}
	return s, true
}

// envValue is the value a function gets for an env setting: the stack's,
// else the documented default.
func (d *deployment) envValue(fn *stackFunction, name string) string {
	if v, ok := fn.Environment[name]; ok {
		return v
	}
	return d.config.settings[name].def
}
