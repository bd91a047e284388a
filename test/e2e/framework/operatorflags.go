package framework

import (
	"context"
	"fmt"
	"sort"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PrometheusInClusterURL is the base URL of the suite's Prometheus as triggers name it. The
// operator queries only Prometheus servers it allows (--prometheus-allowed-addresses, issue 12),
// so the suite allows this one for its run (SetOperatorFlags).
const PrometheusInClusterURL = "http://prometheus." + PrometheusNamespace + ".svc.cluster.local:9090"

// SetOperatorFlags is SetOperatorFlag for several flags with one rollout. It returns a function
// that restores the previous arguments, or nil when nothing had to change.
func (e *Env) SetOperatorFlags(ctx context.Context, flags map[string]string) (restore func(context.Context) error, err error) {
	deps := e.Kube.AppsV1().Deployments(e.Config.SystemNamespace)
	d, err := deps.Get(ctx, OperatorDeployment, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading the operator deployment: %w", err)
	}
	old := append([]string(nil), d.Spec.Template.Spec.Containers[0].Args...)
	args := withFlags(old, flags)
	if strings.Join(args, " ") == strings.Join(old, " ") {
		return nil, nil
	}
	if err := e.setOperatorArgs(ctx, args); err != nil {
		return nil, err
	}
	return func(ctx context.Context) error { return e.setOperatorArgs(ctx, old) }, nil
}

// withFlags returns args with each --name=value of flags replacing any value it had, in a fixed
// order (so equal inputs give equal args and no needless rollout).
func withFlags(args []string, flags map[string]string) []string {
	var out []string
	for _, a := range args {
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if _, set := flags[name]; !set || !strings.HasPrefix(a, "--") {
			out = append(out, a)
		}
	}
	keys := make([]string, 0, len(flags))
	for k := range flags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, "--"+k+"="+flags[k])
	}
	return out
}
