package scaling

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/scale"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// NewScalesGetter builds the /scale client from a rest config: mapper maps kinds to resources
// (pass mgr.GetRESTMapper()), and the scale kind of each resource is found through discovery
// (autoscaling/v1 Scale for built-in kinds, whatever a CRD declares otherwise).
func NewScalesGetter(cfg *rest.Config, mapper meta.RESTMapper) (scale.ScalesGetter, error) {
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("creating discovery client: %w", err)
	}
	sg, err := scale.NewForConfig(cfg, mapper, dynamic.LegacyAPIPathResolverFunc, scale.NewDiscoveryScaleKindResolver(dc))
	if err != nil {
		return nil, fmt.Errorf("creating scale client: %w", err)
	}
	return sg, nil
}

// NewForConfig is the one-call constructor for a manager:
//
//	h, err := scaling.NewForConfig(mgr.GetConfig(), mgr.GetClient(), mgr.GetRESTMapper())
func NewForConfig(cfg *rest.Config, c client.Client, mapper meta.RESTMapper) (*ScaleHandler, error) {
	sg, err := NewScalesGetter(cfg, mapper)
	if err != nil {
		return nil, err
	}
	return NewScaleHandler(c, sg, mapper), nil
}
