package inject

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/elasti-dev/elasti/pkg/names"
)

// sidecarUID is the resolver's user: the distroless "nonroot" user.
const sidecarUID = 65532

// tokenPath is the projected token's file name inside names.SidecarTokenDir.
const tokenPath = "token"

// sidecarContainer builds the resolver container. With native set it is an init container with
// restartPolicy Always and a startup probe; otherwise a regular container with the same probes.
func sidecarContainer(cfg *Config, p *Params) corev1.Container {
	c := corev1.Container{
		Name:            names.SidecarContainerName,
		Image:           p.Image,
		ImagePullPolicy: corev1.PullIfNotPresent,
		Args: []string{
			"--operator-url=" + cfg.OperatorURL,
			"--cluster-domain=" + cfg.ClusterDomain,
			fmt.Sprintf("--proxy-port=%d", p.ProxyPort),
			fmt.Sprintf("--admin-port=%d", p.AdminPort),
			"--log-level=" + p.LogLevel,
			"--token-file=" + names.SidecarTokenFile,
			"--ca-file=" + names.SidecarCAFile,
		},
		Ports: []corev1.ContainerPort{
			{Name: names.PortNameProxy, ContainerPort: p.ProxyPort, Protocol: corev1.ProtocolTCP},
			{Name: names.PortNameAdmin, ContainerPort: p.AdminPort, Protocol: corev1.ProtocolTCP},
		},
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: p.CPURequest, corev1.ResourceMemory: p.MemoryRequest},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: p.MemoryLimit},
		},
		// The startup probe asks only "is the process serving" (/livez): a native sidecar's startup
		// gates the gateway's own containers, and must never hold a gateway back from starting
		// when the operator is unavailable. No readiness probe: a sidecar's readiness counts toward
		// its pod's, so a failing probe (a resolver restarting) would take the gateway out of its
		// own Service. The operator places the sidecar in proxy slices from its stream instead.
		StartupProbe:  httpProbe("/livez", 1, 60),
		LivenessProbe: httpProbe("/livez", 10, 3),
		VolumeMounts: []corev1.VolumeMount{
			{Name: names.SidecarTokenVolume, MountPath: names.SidecarTokenDir, ReadOnly: true},
		},
		SecurityContext:          restrictedSecurityContext(),
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
	if cfg.CABundle != "" {
		c.Env = []corev1.EnvVar{{Name: names.EnvCABundle, Value: cfg.CABundle}}
	}
	if cfg.NativeSidecar {
		c.RestartPolicy = ptr.To(corev1.ContainerRestartPolicyAlways)
	}
	return c
}

// httpProbe is a GET probe on the admin port (by name, so port overrides need no change here).
func httpProbe(path string, period, failures int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
			Path: path, Port: intstr.FromString(names.PortNameAdmin), Scheme: corev1.URISchemeHTTP,
		}},
		PeriodSeconds:    period,
		FailureThreshold: failures,
		TimeoutSeconds:   1,
		SuccessThreshold: 1,
	}
}

// restrictedSecurityContext satisfies the "restricted" Pod Security Standard on its own, so the
// sidecar never weakens the pod's admission under Pod Security Admission.
func restrictedSecurityContext() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		RunAsNonRoot:             ptr.To(true),
		RunAsUser:                ptr.To[int64](sidecarUID),
		RunAsGroup:               ptr.To[int64](sidecarUID),
		ReadOnlyRootFilesystem:   ptr.To(true),
		AllowPrivilegeEscalation: ptr.To(false),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// tokenVolume is the projected ServiceAccount token with Elasti's audience and a short expiry.
// The kubelet rotates it at 80% of its lifetime; the sidecar re-reads the file. The same volume
// projects the namespace's current operator CA bundle (the ConfigMap the webhook keeps there,
// optional so that a pod never waits for it); the kubelet updates it in place after a rotation.
func tokenVolume(cfg *Config) corev1.Volume {
	return corev1.Volume{
		Name: names.SidecarTokenVolume,
		VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
					Audience: cfg.Audience, ExpirationSeconds: ptr.To(cfg.TokenExpirySeconds), Path: tokenPath,
				}},
				{ConfigMap: &corev1.ConfigMapProjection{
					LocalObjectReference: corev1.LocalObjectReference{Name: names.OperatorCAConfigMap},
					Items:                []corev1.KeyToPath{{Key: names.OperatorCAKey, Path: names.OperatorCAKey}},
					Optional:             ptr.To(true),
				}},
			},
			DefaultMode: ptr.To[int32](0o444),
		}},
	}
}
