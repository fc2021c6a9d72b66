package deploy

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// Where the files live, relative to this package's directory (the test's
// working directory).
const (
	stackPath     = "stack.yml"
	configDocPath = "../docs/configuration.md"
	prodDocPath   = "../docs/production.md"
)

// deployment is everything the checks look at: the documents of every
// manifest under deploy/, the stack file and the configuration reference.
// Tests mutate a freshly loaded one to prove that each check can fail.
type deployment struct {
	manifests []manifest
	services  []service
	secrets   []secret
	workloads []workload
	pvcs      []objectMeta
	stack     stackFile
	config    configDoc
}

type objectMeta struct {
	Name      string            `yaml:"name"`
	Namespace string            `yaml:"namespace"`
	Labels    map[string]string `yaml:"labels"`
}

// manifest is the common header of one YAML document.
type manifest struct {
	File       string     `yaml:"-"`
	APIVersion string     `yaml:"apiVersion"`
	Kind       string     `yaml:"kind"`
	Metadata   objectMeta `yaml:"metadata"`
}

type servicePort struct {
	Name string `yaml:"name"`
	Port int    `yaml:"port"`
}

type service struct {
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		ClusterIP                string            `yaml:"clusterIP"`
		PublishNotReadyAddresses bool              `yaml:"publishNotReadyAddresses"`
		Selector                 map[string]string `yaml:"selector"`
		Ports                    []servicePort     `yaml:"ports"`
	} `yaml:"spec"`
}

type secret struct {
	Metadata   objectMeta        `yaml:"metadata"`
	StringData map[string]string `yaml:"stringData"`
	Data       map[string]string `yaml:"data"`
}

// value returns the decoded value of key, from stringData or data.
func (s secret) value(key string) (string, bool) {
	if v, ok := s.StringData[key]; ok {
		return v, true
	}
	b64, ok := s.Data[key]
	if !ok {
		return "", false
	}
	v, err := base64.StdEncoding.DecodeString(b64)
	return string(v), err == nil
}

// keys lists the secret's keys, sorted.
func (s secret) keys() []string {
	var out []string
	for k := range s.StringData {
		out = append(out, k)
	}
	for k := range s.Data {
		out = append(out, k)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

type keyRef struct {
	Name string `yaml:"name"`
	Key  string `yaml:"key"`
}

type envVar struct {
	Name      string `yaml:"name"`
	Value     string `yaml:"value"`
	ValueFrom *struct {
		SecretKeyRef *keyRef `yaml:"secretKeyRef"`
		FieldRef     *struct {
			FieldPath string `yaml:"fieldPath"`
		} `yaml:"fieldRef"`
	} `yaml:"valueFrom"`
}

type container struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Env     []envVar `yaml:"env"`
}

// env returns the variable called name, if the container sets it.
func (c container) env(name string) (envVar, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e, true
		}
	}
	return envVar{}, false
}

// script is the container's command line, arguments included.
func (c container) script() string {
	return strings.Join(append(slices.Clone(c.Command), c.Args...), " ")
}

type podTemplate struct {
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		InitContainers []container `yaml:"initContainers"`
		Containers     []container `yaml:"containers"`
		Affinity       *struct {
			PodAntiAffinity *yaml.Node `yaml:"podAntiAffinity"`
		} `yaml:"affinity"`
		Volumes []struct {
			Name                  string `yaml:"name"`
			PersistentVolumeClaim *struct {
				ClaimName string `yaml:"claimName"`
			} `yaml:"persistentVolumeClaim"`
		} `yaml:"volumes"`
	} `yaml:"spec"`
}

// workload is a StatefulSet, Deployment, Job or CronJob, reduced to what
// the checks need.
type workload struct {
	Kind                string
	Metadata            objectMeta
	Replicas            int
	ServiceName         string
	PodManagementPolicy string
	ClaimTemplates      []string
	Template            podTemplate
}

// containers lists the pod's init and main containers.
func (w workload) containers() []container {
	return append(slices.Clone(w.Template.Spec.InitContainers), w.Template.Spec.Containers...)
}

// workloadDoc is the shape shared by the workload kinds in YAML.
type workloadDoc struct {
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		Replicas             *int        `yaml:"replicas"`
		ServiceName          string      `yaml:"serviceName"`
		PodManagementPolicy  string      `yaml:"podManagementPolicy"`
		Template             podTemplate `yaml:"template"`
		VolumeClaimTemplates []struct {
			Metadata objectMeta `yaml:"metadata"`
		} `yaml:"volumeClaimTemplates"`
		JobTemplate struct {
			Spec struct {
				Template podTemplate `yaml:"template"`
			} `yaml:"spec"`
		} `yaml:"jobTemplate"`
	} `yaml:"spec"`
}

type stackFunction struct {
	Lang        string            `yaml:"lang"`
	Handler     string            `yaml:"handler"`
	Image       string            `yaml:"image"`
	Environment map[string]string `yaml:"environment"`
	Secrets     []string          `yaml:"secrets"`
	Labels      map[string]string `yaml:"labels"`
}

type stackFile struct {
	Version  string `yaml:"version"`
	Provider struct {
		Name string `yaml:"name"`
	} `yaml:"provider"`
	Functions map[string]*stackFunction `yaml:"functions"`
}

// load reads every file the checks need.
func load(t *testing.T) *deployment {
	t.Helper()
	d := &deployment{}
	err := filepath.WalkDir(".", func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || path == stackPath {
			return err
		}
		if ext := filepath.Ext(path); ext == ".yaml" || ext == ".yml" {
			return d.addFile(path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.manifests) == 0 {
		t.Fatal("no manifest found under deploy/")
	}
	b, err := os.ReadFile(stackPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &d.stack); err != nil {
		t.Fatalf("%s: %v", stackPath, err)
	}
	if d.config, err = readConfigDoc(configDocPath); err != nil {
		t.Fatal(err)
	}
	return d
}

// addFile decodes every document of one manifest file.
func (d *deployment) addFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for i := 1; ; i++ {
		var doc yaml.Node
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("%s, document %d: %w", path, i, err)
		}
		if err := d.addDocument(path, &doc); err != nil {
			return fmt.Errorf("%s, document %d: %w", path, i, err)
		}
	}
}

// addDocument records one document, and its kind-specific view.
func (d *deployment) addDocument(path string, doc *yaml.Node) error {
	m := manifest{File: path}
	if err := doc.Decode(&m); err != nil {
		return err
	}
	d.manifests = append(d.manifests, m)
	switch m.Kind {
	case "Service":
		var s service
		err := doc.Decode(&s)
		d.services = append(d.services, s)
		return err
	case "Secret":
		var s secret
		err := doc.Decode(&s)
		d.secrets = append(d.secrets, s)
		return err
	case "PersistentVolumeClaim":
		d.pvcs = append(d.pvcs, m.Metadata)
	case "StatefulSet", "Deployment", "Job", "CronJob":
		var w workloadDoc
		if err := doc.Decode(&w); err != nil {
			return err
		}
		d.workloads = append(d.workloads, toWorkload(m.Kind, w))
	}
	return nil
}

func toWorkload(kind string, w workloadDoc) workload {
	out := workload{
		Kind:                kind,
		Metadata:            w.Metadata,
		Replicas:            1,
		ServiceName:         w.Spec.ServiceName,
		PodManagementPolicy: w.Spec.PodManagementPolicy,
		Template:            w.Spec.Template,
	}
	if w.Spec.Replicas != nil {
		out.Replicas = *w.Spec.Replicas
	}
	if kind == "CronJob" {
		out.Template = w.Spec.JobTemplate.Spec.Template
	}
	for _, c := range w.Spec.VolumeClaimTemplates {
		out.ClaimTemplates = append(out.ClaimTemplates, c.Metadata.Name)
	}
	return out
}
