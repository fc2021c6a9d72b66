package stackfile

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// ErrInvalid is wrapped by every validation error of a stack file.
var ErrInvalid = errors.New("invalid stack file")

// File is a parsed stack file.
type File struct {
	Version       string              `yaml:"version"`
	Provider      Provider            `yaml:"provider"`
	Functions     map[string]Function `yaml:"functions"`
	Configuration Configuration       `yaml:"configuration,omitempty"`

	// Path is the absolute path the file was read from ("" when parsed from bytes).
	Path string `yaml:"-"`
}

// Provider names the platform and its gateway.
type Provider struct {
	Name    string `yaml:"name"`
	Gateway string `yaml:"gateway,omitempty"`
}

// Configuration is the stack's configuration block.
type Configuration struct {
	Templates []TemplateSource `yaml:"templates,omitempty"`
	Copy      []string         `yaml:"copy,omitempty"`
}

// TemplateSource names a template and where to get it.
type TemplateSource struct {
	Name   string `yaml:"name"`
	Source string `yaml:"source,omitempty"`
}

// Resources are memory/cpu limits or requests.
type Resources struct {
	Memory string `yaml:"memory,omitempty"`
	CPU    string `yaml:"cpu,omitempty"`
}

// Function is one entry of the functions map.
type Function struct {
	Lang                   string            `yaml:"lang,omitempty"`
	Handler                string            `yaml:"handler,omitempty"`
	Image                  string            `yaml:"image,omitempty"`
	FProcess               string            `yaml:"fprocess,omitempty"`
	Environment            map[string]string `yaml:"environment,omitempty"`
	EnvironmentFile        []string          `yaml:"environment_file,omitempty"`
	Secrets                []string          `yaml:"secrets,omitempty"`
	SkipBuild              bool              `yaml:"skip_build,omitempty"`
	Constraints            []string          `yaml:"constraints,omitempty"`
	Labels                 map[string]string `yaml:"labels,omitempty"`
	Annotations            map[string]string `yaml:"annotations,omitempty"`
	Limits                 *Resources        `yaml:"limits,omitempty"`
	Requests               *Resources        `yaml:"requests,omitempty"`
	ReadOnlyRootFilesystem bool              `yaml:"readonly_root_filesystem,omitempty"`
	BuildOptions           []string          `yaml:"build_options,omitempty"`
	BuildArgs              map[string]string `yaml:"build_args,omitempty"`
	Namespace              string            `yaml:"namespace,omitempty"`
	Platforms              string            `yaml:"platforms,omitempty"`
}

// ParseFile reads, substitutes and validates the stack file at path.
func ParseFile(path string) (*File, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("stack file %s: %w", path, err)
	}
	b, err := os.ReadFile(abs)
	if err != nil {
		return nil, fmt.Errorf("read stack file: %w", err)
	}
	f, err := Parse(b, os.LookupEnv)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f.Path = abs
	return f, nil
}

// Parse substitutes variables with lookup (nil: no substitution) and parses b.
func Parse(b []byte, lookup func(string) (string, bool)) (*File, error) {
	if lookup != nil {
		b = []byte(Substitute(string(b), lookup))
	}
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	return &f, nil
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// Validate checks the version, provider and function entries.
func (f *File) Validate() error {
	if f.Version != "1.0" {
		return fmt.Errorf("%w: version must be 1.0, got %q", ErrInvalid, f.Version)
	}
	if f.Provider.Name != "openfaas" {
		return fmt.Errorf("%w: provider.name must be openfaas, got %q", ErrInvalid, f.Provider.Name)
	}
	if len(f.Functions) == 0 {
		return fmt.Errorf("%w: no functions", ErrInvalid)
	}
	for _, name := range f.Names() {
		fn := f.Functions[name]
		if !nameRE.MatchString(name) || len(name) > 63 {
			return fmt.Errorf("%w: function name %q must be lower-case letters, digits and '-'", ErrInvalid, name)
		}
		if fn.Image == "" {
			return fmt.Errorf("%w: function %s: image is required", ErrInvalid, name)
		}
		if fn.Lang == "" && fn.FProcess == "" && !fn.SkipBuild {
			return fmt.Errorf("%w: function %s: set lang (and handler), or fprocess", ErrInvalid, name)
		}
		if fn.Lang != "" && fn.Handler == "" && !fn.SkipBuild {
			return fmt.Errorf("%w: function %s: lang %s needs a handler folder", ErrInvalid, name, fn.Lang)
		}
	}
	return nil
}

// Names returns the function names in sorted order.
func (f *File) Names() []string {
	names := make([]string, 0, len(f.Functions))
	for n := range f.Functions {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Dir is the directory of the stack file ("." when parsed from bytes).
func (f *File) Dir() string {
	if f.Path == "" {
		return "."
	}
	return filepath.Dir(f.Path)
}

// Resolve makes p absolute relative to the stack file's directory.
func (f *File) Resolve(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(f.Dir(), p)
}

// EnvVars merges fn.Environment and then each fn.EnvironmentFile in order
// (later entries win), as faas-cli does on deploy. Files are resolved relative
// to the stack file.
func (f *File) EnvVars(fn Function) (map[string]string, error) {
	out := map[string]string{}
	for k, v := range fn.Environment {
		out[k] = v
	}
	for _, ef := range fn.EnvironmentFile {
		b, err := os.ReadFile(f.Resolve(ef))
		if err != nil {
			return nil, fmt.Errorf("environment_file: %w", err)
		}
		var doc struct {
			Environment map[string]string `yaml:"environment"`
		}
		if err := yaml.Unmarshal(b, &doc); err != nil {
			return nil, fmt.Errorf("environment_file %s: %w", ef, err)
		}
		for k, v := range doc.Environment {
			out[k] = v
		}
	}
	return out, nil
}

var varRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(:-([^}]*))?\}`)

// Substitute replaces ${VAR} and ${VAR:-default} in s. An unset or empty VAR
// takes the default (or "" without one).
func Substitute(s string, lookup func(string) (string, bool)) string {
	return varRE.ReplaceAllStringFunc(s, func(m string) string {
		sub := varRE.FindStringSubmatch(m)
		if v, ok := lookup(sub[1]); ok && v != "" {
			return v
		}
		return sub[3]
	})
}

// Template is a parsed template.yml.
type Template struct {
	Language       string `yaml:"language"`
	FProcess       string `yaml:"fprocess"`
	WelcomeMessage string `yaml:"welcome_message,omitempty"`
	HandlerFolder  string `yaml:"handler_folder,omitempty"`
	BuildOptions   []struct {
		Name     string   `yaml:"name"`
		Packages []string `yaml:"packages"`
	} `yaml:"build_options,omitempty"`
}

// ReadTemplate parses dir/template.yml.
func ReadTemplate(dir string) (*Template, error) {
	b, err := os.ReadFile(filepath.Join(dir, "template.yml"))
	if err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	var t Template
	if err := yaml.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("template %s: %w", dir, err)
	}
	if t.HandlerFolder == "" {
		t.HandlerFolder = "function"
	}
	t.HandlerFolder = strings.Trim(t.HandlerFolder, "/")
	return &t, nil
}
