package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"
)

// TestRenderedManifestsAreValid checks every object that the kustomize base
// and overlay and the Helm chart render against the Kubernetes and
// prometheus-operator API types, strictly: an unknown or misspelt field, or
// a value of the wrong type, fails (the schemas are the Go types themselves,
// so the check needs no network). .ci/run renders the manifests into the
// directory named by BINDSYNC_RENDERED_MANIFESTS (kubectl kustomize, helm
// template) and runs this test; it also checks that the Helm chart renders
// the same objects as the kustomize base.
func TestRenderedManifestsAreValid(t *testing.T) {
	dir := os.Getenv("BINDSYNC_RENDERED_MANIFESTS")
	if dir == "" {
		t.Skip("set BINDSYNC_RENDERED_MANIFESTS to a directory of rendered manifests (.ci/run does)")
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) < 3 {
		t.Fatalf("want the kustomize base, the overlay and the Helm render in %s, found %v (%v)", dir, files, err)
	}
	kinds := map[string][]string{}
	for _, f := range files {
		for i, doc := range bytes.Split(mustRead(t, f), []byte("\n---")) {
			if len(bytes.TrimSpace(doc)) == 0 || bytes.HasPrefix(bytes.TrimSpace(doc), []byte("#")) && !bytes.Contains(doc, []byte("kind:")) {
				continue
			}
			var head struct {
				Kind     string
				Metadata struct{ Name string }
			}
			if err := yaml.Unmarshal(doc, &head); err != nil {
				t.Fatalf("%s doc %d: %v", f, i, err)
			}
			var obj any
			switch head.Kind {
			case "Deployment":
				obj = &appsv1.Deployment{}
			case "Service":
				obj = &corev1.Service{}
			case "ServiceAccount":
				obj = &corev1.ServiceAccount{}
			case "ConfigMap":
				obj = &corev1.ConfigMap{}
			case "Namespace":
				obj = &corev1.Namespace{}
			case "NetworkPolicy":
				obj = &networkingv1.NetworkPolicy{}
			case "ServiceMonitor":
				obj = &monitoringv1.ServiceMonitor{}
			case "PrometheusRule":
				obj = &monitoringv1.PrometheusRule{}
			default:
				t.Errorf("%s: %s %q is a kind this check does not know", f, head.Kind, head.Metadata.Name)
				continue
			}
			if err := yaml.UnmarshalStrict(doc, obj); err != nil {
				t.Errorf("%s: %s %q: %v", f, head.Kind, head.Metadata.Name, err)
			}
			// encoding/json matches field names without regard to case; the
			// API server does not. Every key must be a field, spelt exactly.
			var raw any
			if err := yaml.Unmarshal(doc, &raw); err == nil {
				for _, bad := range unknownKeys(reflect.TypeOf(obj).Elem(), raw, head.Kind) {
					t.Errorf("%s: %s %q: unknown field %s", f, head.Kind, head.Metadata.Name, bad)
				}
			}
			if d, ok := obj.(*appsv1.Deployment); ok {
				checkDeployment(t, f, d)
			}
			kinds[filepath.Base(f)] = append(kinds[filepath.Base(f)], head.Kind)
		}
	}
	// The chart renders what the base renders (but the Namespace, which a
	// Helm release does not own).
	base, chart := kinds["kustomize-base.yaml"], kinds["helm.yaml"]
	base = slices.DeleteFunc(slices.Clone(base), func(k string) bool { return k == "Namespace" })
	slices.Sort(base)
	slices.Sort(chart)
	if !slices.Equal(base, chart) {
		t.Errorf("the Helm chart renders %v, the kustomize base %v", chart, base)
	}
}

var hashSuffix = regexp.MustCompile(`-[bcdfghkmt2-9]{10}$`)

func checkDeployment(t *testing.T, file string, d *appsv1.Deployment) {
	t.Helper()
	sel := d.Spec.Selector.MatchLabels
	for k, v := range sel {
		if d.Spec.Template.Labels[k] != v {
			t.Errorf("%s: the selector %s=%s does not match the pod template", file, k, v)
		}
	}
	c := d.Spec.Template.Spec.Containers[0]
	var env []string
	for _, e := range c.Env {
		env = append(env, fmt.Sprintf("%s=%s", e.Name, e.Value))
	}
	if !slices.ContainsFunc(env, func(e string) bool { return strings.HasPrefix(e, "BINDSYNC_POLICY=") }) {
		t.Errorf("%s: no BINDSYNC_POLICY in %v", file, env)
	}
	// kustomize's content hash suffix would replace the pod on every edit.
	if cm := d.Spec.Template.Spec.Volumes[0].ConfigMap; cm == nil || hashSuffix.MatchString(cm.Name) {
		t.Errorf("%s: the desired state is not a ConfigMap of a stable name", file)
	}
}

// unknownKeys walks a decoded document along a Go API type and returns the
// paths of keys that are no field of it, compared exactly (case included).
func unknownKeys(typ reflect.Type, v any, path string) []string {
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	var out []string
	switch val := v.(type) {
	case map[string]any:
		switch typ.Kind() {
		case reflect.Map:
			for k, x := range val {
				out = append(out, unknownKeys(typ.Elem(), x, path+"."+k)...)
			}
		case reflect.Struct:
			if _, custom := reflect.PointerTo(typ).MethodByName("UnmarshalJSON"); custom {
				return nil // a type that reads itself (IntOrString, Quantity, RawExtension)
			}
			fields := jsonFields(typ)
			for k, x := range val {
				ft, ok := fields[k]
				if !ok {
					out = append(out, path+"."+k)
					continue
				}
				out = append(out, unknownKeys(ft, x, path+"."+k)...)
			}
		}
	case []any:
		if typ.Kind() == reflect.Slice || typ.Kind() == reflect.Array {
			for i, x := range val {
				out = append(out, unknownKeys(typ.Elem(), x, fmt.Sprintf("%s[%d]", path, i))...)
			}
		}
	}
	return out
}

// jsonFields maps the JSON names of a struct's fields (embedded inline
// structs included) to their types.
func jsonFields(typ reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && (name == "" || strings.Contains(opts, "inline")) {
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct {
				for k, v := range jsonFields(ft) {
					out[k] = v
				}
				continue
			}
		}
		if name == "" {
			name = f.Name
		}
		out[name] = f.Type
	}
	return out
}
