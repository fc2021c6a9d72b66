package runtime

import (
	"fmt"
	"io"
	"strings"
)

//go:generate go test -run TestConfigurationDocIsCurrent -update-docs .

// WriteConfigDoc writes the configuration reference (docs/configuration.md)
// in Markdown, generated from Settings.
func WriteConfigDoc(w io.Writer) error {
	var b strings.Builder
	b.WriteString("<!-- Code generated from runtime.Settings by `go generate ./runtime`; DO NOT EDIT. -->\n\n")
	b.WriteString("# Flow function configuration\n\n")
	b.WriteString("A flow function reads its configuration once, at start, from environment\n")
	b.WriteString("variables (`environment:` in stack.yml) and OpenFaaS secrets (`secrets:` in\n")
	b.WriteString("stack.yml; each one a file in `secret_mount_path`). An invalid value stops the\n")
	b.WriteString("function with a message naming the setting. Durations are whole seconds (`30`)\n")
	b.WriteString("or Go durations (`30s`, `1m30s`); sizes are bytes (`1048576`) or with a unit\n")
	b.WriteString("(`64KiB`, `16MiB`, `1GiB`); booleans are `true` or `false`.\n\n")
	b.WriteString("The watchdog's own variables (`fprocess`, `mode`, `upstream_url`, `exec_timeout`,\n")
	b.WriteString("`port`...) are set by the template's Dockerfile; see docs/template.md.\n")
	var groups []string
	byGroup := map[string][]Setting{}
	for _, s := range settings {
		if _, ok := byGroup[s.Group]; !ok {
			groups = append(groups, s.Group)
		}
		byGroup[s.Group] = append(byGroup[s.Group], s)
	}
	for _, g := range groups {
		fmt.Fprintf(&b, "\n## %s\n\n", g)
		b.WriteString("| Name | Source | Default | Meaning |\n|---|---|---|---|\n")
		for _, s := range byGroup[g] {
			writeSettingRow(&b, s)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func writeSettingRow(b *strings.Builder, s Setting) {
	name := "`" + s.Name + "`"
	if len(s.Aliases) > 0 {
		name += " (then " + strings.Join(quoteAll(s.Aliases), ", ") + ")"
	}
	def := "—"
	if s.Default != "" {
		def = "`" + s.Default + "`"
	}
	src := s.Source.String()
	if s.NameFrom != "" {
		src += " (name from `" + s.NameFrom + "`)"
	}
	fmt.Fprintf(b, "| %s | %s | %s | %s |\n", name, src, def, strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;").Replace(s.Doc))
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = "`" + s + "`"
	}
	return out
}
