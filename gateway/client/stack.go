package client

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/faas-flow/faas-flow/gateway/api"
	"github.com/faas-flow/faas-flow/gateway/builder"
	"github.com/faas-flow/faas-flow/gateway/stackfile"
)

// DeployOptions configure DeployStack.
type DeployOptions struct {
	// PayloadSecret signs remote builds (required unless every function is
	// skip_build or fprocess-only).
	PayloadSecret []byte
	// SDKDir is the local faas-flow checkout for the replace directive
	// ("" = found by walking up from the stack file, else from the working
	// directory).
	SDKDir string
	// TemplateDirs are searched for <lang>/template.yml in order (default:
	// <stack dir>/template, then <SDKDir>/template).
	TemplateDirs []string
	// BuildDir receives the shrink-wrapped contexts (default <stack dir>/build).
	BuildDir string
	// Only limits the deploy to these functions (empty: all).
	Only []string
	// Log receives progress (nil: discarded).
	Log io.Writer
}

// DeployStack builds each function of the stack file through the gateway's
// remote builder and deploys it (PUT, then POST on 404).
func DeployStack(ctx context.Context, c *Client, stackFile string, o DeployOptions) error {
	f, err := stackfile.ParseFile(stackFile)
	if err != nil {
		return err
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
	if o.SDKDir == "" {
		if o.SDKDir, err = builder.FindSDKDir(f.Dir()); err != nil {
			return err
		}
	}
	if o.SDKDir == "" {
		if wd, err := os.Getwd(); err == nil {
			o.SDKDir, _ = builder.FindSDKDir(wd)
		}
	}
	if len(o.TemplateDirs) == 0 {
		o.TemplateDirs = []string{filepath.Join(f.Dir(), "template")}
		if o.SDKDir != "" {
			o.TemplateDirs = append(o.TemplateDirs, filepath.Join(o.SDKDir, "template"))
		}
	}
	if o.BuildDir == "" {
		o.BuildDir = filepath.Join(f.Dir(), "build")
	}
	only := map[string]bool{}
	for _, n := range o.Only {
		if _, ok := f.Functions[n]; !ok {
			return fmt.Errorf("function %s is not in %s", n, stackFile)
		}
		only[n] = true
	}
	for _, name := range f.Names() {
		if len(only) > 0 && !only[name] {
			continue
		}
		if err := deployOne(ctx, c, f, name, o); err != nil {
			return err
		}
	}
	return nil
}

func deployOne(ctx context.Context, c *Client, f *stackfile.File, name string, o DeployOptions) error {
	fn := f.Functions[name]
	fprocess := fn.FProcess
	if fn.Lang != "" && !fn.SkipBuild {
		tdir, err := findTemplate(o.TemplateDirs, fn.Lang)
		if err != nil {
			return fmt.Errorf("function %s: %w", name, err)
		}
		tmpl, err := stackfile.ReadTemplate(tdir)
		if err != nil {
			return fmt.Errorf("function %s: %w", name, err)
		}
		if fprocess == "" {
			fprocess = tmpl.FProcess
		}
		fmt.Fprintf(o.Log, "==> %s: building %s (template %s)\n", name, fn.Image, fn.Lang)
		var copies []string
		copies = append(copies, f.Configuration.Copy...)
		ctxDir, err := builder.Shrinkwrap(builder.Spec{
			Name: name, Lang: fn.Lang, TemplateDir: tdir, HandlerDir: f.Resolve(fn.Handler),
			Copy: copies, CopyBase: f.Dir(), OutDir: filepath.Join(o.BuildDir, name),
		})
		if err != nil {
			return fmt.Errorf("function %s: %w", name, err)
		}
		if o.SDKDir != "" {
			if err := builder.AddSDKReplace(ctxDir, o.SDKDir); err != nil {
				return fmt.Errorf("function %s: %w", name, err)
			}
		}
		if len(o.PayloadSecret) == 0 {
			return fmt.Errorf("function %s: a payload secret is needed to build through the gateway", name)
		}
		if err := c.Build(ctx, ctxDir, fn.Image, o.PayloadSecret, prefixed(o.Log, "    ")); err != nil {
			return err
		}
	} else if fn.Lang != "" && fprocess == "" {
		if tdir, err := findTemplate(o.TemplateDirs, fn.Lang); err == nil {
			if tmpl, err := stackfile.ReadTemplate(tdir); err == nil {
				fprocess = tmpl.FProcess
			}
		}
	}
	env, err := f.EnvVars(fn)
	if err != nil {
		return fmt.Errorf("function %s: %w", name, err)
	}
	labels, annotations := map[string]string{}, map[string]string{}
	for k, v := range fn.Labels {
		labels[k] = v
	}
	for k, v := range fn.Annotations {
		annotations[k] = v
	}
	d := api.FunctionDeployment{
		Service: name, Image: fn.Image, Namespace: fn.Namespace, EnvProcess: fprocess, EnvVars: env,
		Constraints: fn.Constraints, Secrets: fn.Secrets, Labels: &labels, Annotations: &annotations,
		ReadOnlyRootFilesystem: fn.ReadOnlyRootFilesystem,
	}
	if fn.Limits != nil {
		d.Limits = &api.FunctionResources{Memory: fn.Limits.Memory, CPU: fn.Limits.CPU}
	}
	if fn.Requests != nil {
		d.Requests = &api.FunctionResources{Memory: fn.Requests.Memory, CPU: fn.Requests.CPU}
	}
	fmt.Fprintf(o.Log, "==> %s: deploying\n", name)
	if err := c.Deploy(ctx, d); err != nil {
		return err
	}
	fmt.Fprintf(o.Log, "==> %s: deployed, URL: %s/function/%s\n", name, c.URL, name)
	return nil
}

func findTemplate(dirs []string, lang string) (string, error) {
	for _, d := range dirs {
		p := filepath.Join(d, lang)
		if _, err := os.Stat(filepath.Join(p, "template.yml")); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("template %s not found in %v (faas-cli template pull, or run from the faas-flow checkout)", lang, dirs)
}

type prefixWriter struct {
	w      io.Writer
	prefix string
}

func prefixed(w io.Writer, p string) io.Writer { return &prefixWriter{w: w, prefix: p} }

func (p *prefixWriter) Write(b []byte) (int, error) {
	if _, err := io.WriteString(p.w, p.prefix); err != nil {
		return 0, err
	}
	return p.w.Write(b)
}
