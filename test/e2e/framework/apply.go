package framework

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
)

// Decode splits a multi-document YAML manifest into objects, after replacing each
// placeholder key of vars by its value.
func Decode(manifest string, vars map[string]string) ([]*unstructured.Unstructured, error) {
	for k, v := range vars {
		manifest = strings.ReplaceAll(manifest, k, v)
	}
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(manifest)))
	var out []*unstructured.Unstructured
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading manifest: %w", err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj := &unstructured.Unstructured{}
		if err := utilyaml.Unmarshal(doc, &obj.Object); err != nil {
			return nil, fmt.Errorf("decoding manifest document: %w", err)
		}
		if len(obj.Object) == 0 {
			continue
		}
		out = append(out, obj)
	}
}

// CreateAll creates every object of the manifest, leaving those that already exist alone.
func (e *Env) CreateAll(ctx context.Context, manifest string, vars map[string]string) error {
	objs, err := Decode(manifest, vars)
	if err != nil {
		return err
	}
	for _, o := range objs {
		if err := e.Client.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating %s %s/%s: %w", o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
	}
	return nil
}

// ApplyAll applies every object of the manifest with server-side apply as fieldManager, taking
// over fields another manager set (kubectl apply's, say): what the manifest says wins, and
// applying twice changes nothing.
func (e *Env) ApplyAll(ctx context.Context, manifest string, vars map[string]string, fieldManager string) error {
	objs, err := Decode(manifest, vars)
	if err != nil {
		return err
	}
	for _, o := range objs {
		gvk := o.GroupVersionKind()
		m, err := e.Client.RESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			return fmt.Errorf("finding the resource of %s: %w", gvk, err)
		}
		var r dynamic.ResourceInterface = e.Dynamic.Resource(m.Resource)
		if m.Scope.Name() == meta.RESTScopeNameNamespace {
			r = e.Dynamic.Resource(m.Resource).Namespace(o.GetNamespace())
		}
		if _, err := r.Apply(ctx, o.GetName(), o, metav1.ApplyOptions{FieldManager: fieldManager, Force: true}); err != nil {
			return fmt.Errorf("applying %s %s/%s: %w", o.GetKind(), o.GetNamespace(), o.GetName(), err)
		}
	}
	return nil
}

// DeleteAll deletes every object of the manifest, ignoring those already gone.
func (e *Env) DeleteAll(ctx context.Context, manifest string, vars map[string]string) error {
	objs, err := Decode(manifest, vars)
	if err != nil {
		return err
	}
	var errs []error
	for i := len(objs) - 1; i >= 0; i-- {
		if err := e.Client.Delete(ctx, objs[i]); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting %s %s: %w", objs[i].GetKind(), objs[i].GetName(), err))
		}
	}
	return errors.Join(errs...)
}
