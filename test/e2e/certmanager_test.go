//go:build e2e

package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"

	"github.com/elasti-dev/elasti/pkg/names"
	"github.com/elasti-dev/elasti/test/e2e/framework"
)

var (
	certificates = schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "certificates"}
	issuers      = schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "issuers"}
)

// The cert-manager overlay's objects (manifests/overlays/cert-manager/certificates.yaml).
const (
	servingCertificate = "elasti-serving"
	caCertificate      = "elasti-ca"
	webhookConfig      = "elasti-webhook"
)

// TestCertManager installs Elasti with the cert-manager overlay on a real cert-manager (built
// from source, hack/neighbours.sh) and proves that cert-manager issued the serving certificate,
// that cainjector put the CA into the MutatingWebhookConfiguration, and that gateway pods are
// injected and wake a Service. Then it forces a renewal the way `cmctl renew` does (the
// Certificate's Issuing condition) while pod creations go through the webhook and a Service
// flips between zero and serving under load: the webhook and operator pods serve the new
// certificate without a restart, and not one admission, request or wake-up fails. The default
// (self-managed) install is restored at the end.
func TestCertManager(t *testing.T) {
	requireEnv(t)
	ctx, cancel := context.WithTimeout(context.Background(), env.Config.Scale(20*time.Minute))
	defer cancel()
	requireNeighbour(t, ctx, "cert-manager")
	start := time.Now()
	switchToCertManager(t, ctx)
	step(t, start, "Elasti installed with the cert-manager overlay")

	sys := env.Config.SystemNamespace
	secret := checkIssuedByCertManager(t, ctx)
	ca := checkCAInjected(t, ctx, secret)
	step(t, start, "serving certificate %s issued by cert-manager (Issuer elasti-ca); caBundle injected by cainjector: %s", serial(t, secret.Data["tls.crt"]), describePEM([]byte(ca)))

	f := setup(t, "certmanager", 1)
	p := requirePrometheus(t, f.ctx)
	gw := gatewayPod0(t, f)
	if !hasSidecar(gw) {
		t.Fatalf("gateway pod %s has no %s container", gw.Name, names.SidecarContainerName)
	}
	if bundle := namespaceBundle(t, f); !verifies(bundle, secret.Data["tls.crt"]) || !strings.Contains(bundle, strings.TrimSpace(string(secret.Data["ca.crt"]))) {
		t.Fatalf("the namespace's %s does not hold cert-manager's CA", names.OperatorCAConfigMap)
	}
	app := f.app(framework.AppOptions{Name: "app", StartupDelay: 200 * time.Millisecond}, nil)
	f.toZero(app)
	f.mustGet(f.url(app, 0, "/"), framework.AppMessage("app"))
	step(t, start, "gateway pod injected; a request woke the app from zero through the sidecar")

	pods := systemPods(t, ctx)
	oldSerial := serial(t, secret.Data["tls.crt"])
	waitServing(t, ctx, pods, oldSerial)

	// Load through the gateway with an always-idle trigger: the app flips between zero and
	// serving, every flip a wake-up through the elastiserver; and pod creations through the webhook.
	load := framework.StartLoad(f.ctx, f.gw.keepOpen, f.url(app, 0, "/"), 2, 50*time.Millisecond, framework.AppMessage("app"))
	defer load.Stop()
	adm := startAdmissions(f)
	defer adm.stop()
	f.alwaysIdle(app, p)
	var flips atomic.Int32
	flipCtx, stopFlips := context.WithCancel(f.ctx)
	defer stopFlips()
	go func() {
		_, _ = countFlips(flipCtx, app, 1000, env.Config.Scale(15*time.Minute), func(int, *framework.State) { flips.Add(1) })
	}()
	// Two, because the first count may come from the manual scale-down above (its
	// lastScaledDownTime).
	if err := framework.Poll(f.ctx, env.Config.Scale(2*time.Minute), time.Second, "two flips under load", func(context.Context) (bool, string, error) {
		return flips.Load() >= 2, fmt.Sprintf("%d flips", flips.Load()), nil
	}); err != nil {
		t.Fatal(err)
	}
	step(t, start, "load, admissions and flips running; renewing the certificate")

	renew(t, ctx, servingCertificate)
	newSecret := waitReissued(t, ctx, oldSerial)
	newSerial := serial(t, newSecret.Data["tls.crt"])
	step(t, start, "cert-manager issued %s (was %s)", newSerial, oldSerial)
	waitServing(t, ctx, pods, newSerial)
	step(t, start, "every webhook and operator pod serves %s", newSerial)
	flipsAtPickup := flips.Load()
	if err := framework.Poll(f.ctx, env.Config.Scale(2*time.Minute), time.Second, "two flips after the pick-up", func(context.Context) (bool, string, error) {
		return flips.Load() >= flipsAtPickup+2, fmt.Sprintf("%d flips", flips.Load()), nil
	}); err != nil {
		t.Error(err)
	}
	stopFlips()
	res := load.Stop()
	ok, failed := adm.stop()
	step(t, start, "flips %d; load %s; admissions %d ok, %d failed", flips.Load(), res, ok, len(failed))
	if res.Failures() != 0 || res.OK == 0 {
		t.Errorf("load during the renewal: %s, want no failure", res)
	}
	if len(failed) != 0 || ok == 0 {
		t.Errorf("pod admissions during the renewal: %d ok, %d failed: %v", ok, len(failed), failed[:min(len(failed), 5)])
	}
	for _, now := range systemPods(t, ctx) {
		was, found := pods[now.UID]
		if !found || restarts(&now) != restarts(&was) {
			t.Errorf("pod %s/%s is new or restarted during the renewal (restarts %d → %d)", sys, now.Name, restarts(&was), restarts(&now))
		}
	}
	if got := len(systemPods(t, ctx)); got != len(pods) {
		t.Errorf("%d webhook and operator pods after the renewal, %d before", got, len(pods))
	}
	// The CA was not renewed: the injected bundle still holds it and verifies the new certificate.
	if ca2 := checkCAInjected(t, ctx, newSecret); ca2 != ca {
		t.Logf("the caBundle changed during the renewal: %s → %s", describePEM([]byte(ca)), describePEM([]byte(ca2)))
	}
}

// switchToCertManager installs the cert-manager overlay and registers the restore of the
// self-managed one. The self-managed Secrets are deleted so that cert-manager issues both.
func switchToCertManager(t *testing.T, ctx context.Context) {
	t.Helper()
	t.Cleanup(func() { restoreSelfManaged(t) })
	installElasti(t, ctx, "cert-manager")
	// A self-managed webhook pod that is still terminating would write its own Secrets and
	// caBundle again: wait until every webhook pod runs in files mode.
	err := framework.Poll(ctx, env.Config.Scale(2*time.Minute), time.Second, "every webhook pod to run with --cert-mode=files",
		func(ctx context.Context) (bool, string, error) {
			pods, err := env.PodsBySelector(ctx, env.Config.SystemNamespace, "app.kubernetes.io/name=elasti-webhook")
			if err != nil {
				return false, "", err
			}
			for _, p := range pods {
				if !slices.Contains(p.Spec.Containers[0].Args, "--cert-mode=files") {
					return false, p.Name + " is in self-managed mode", nil
				}
			}
			return true, "", nil
		})
	if err != nil {
		t.Fatal(err)
	}
	deleteSecrets(t, ctx, caSecret, servingSecret)
	waitIssued(t, ctx)
	// The webhook and the operator started with the self-managed Secret's content; switching modes
	// is an install step, so they are restarted once here (the renewal below is not).
	restartDeployment(t, ctx, env.Config.SystemNamespace, "elasti-webhook")
	restartDeployment(t, ctx, env.Config.SystemNamespace, framework.OperatorDeployment)
}

// restoreSelfManaged removes the cert-manager overlay's Issuers and Certificates and their
// Secrets and installs the self-managed overlay again (its webhook creates a new CA and serving
// certificate), so later scenarios find the default install.
func restoreSelfManaged(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), env.Config.Scale(10*time.Minute))
	defer cancel()
	sys := env.Config.SystemNamespace
	for _, c := range []string{servingCertificate, caCertificate} {
		if err := env.Dynamic.Resource(certificates).Namespace(sys).Delete(ctx, c, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("restore: deleting Certificate %s: %v", c, err)
		}
	}
	for _, i := range []string{"elasti-ca", "elasti-selfsigned"} {
		if err := env.Dynamic.Resource(issuers).Namespace(sys).Delete(ctx, i, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("restore: deleting Issuer %s: %v", i, err)
		}
	}
	deleteSecrets(t, ctx, caSecret, servingSecret)
	installElasti(t, ctx, "self-managed")
	restartDeployment(t, ctx, sys, framework.OperatorDeployment)
	t.Logf("restored the self-managed install")
}

func deleteSecrets(t *testing.T, ctx context.Context, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if err := env.Kube.CoreV1().Secrets(env.Config.SystemNamespace).Delete(ctx, s, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Fatalf("deleting Secret %s: %v", s, err)
		}
	}
}

// waitIssued waits until cert-manager has issued both Secrets of the overlay (its annotation
// names the Certificate), both Certificates are Ready, and the serving certificate chains to the
// CA in elasti-ca.
func waitIssued(t *testing.T, ctx context.Context) {
	t.Helper()
	err := framework.Poll(ctx, env.Config.Scale(3*time.Minute), time.Second, "cert-manager to issue elasti-ca and elasti-tls",
		func(ctx context.Context) (bool, string, error) {
			var state []string
			data := map[string][]byte{}
			for _, p := range [][2]string{{caSecret, caCertificate}, {servingSecret, servingCertificate}} {
				s, err := env.Kube.CoreV1().Secrets(env.Config.SystemNamespace).Get(ctx, p[0], metav1.GetOptions{})
				if err != nil {
					return false, err.Error(), nil
				}
				if s.Annotations["cert-manager.io/certificate-name"] != p[1] {
					return false, p[0] + " not issued by cert-manager yet", nil
				}
				data[p[0]] = s.Data["tls.crt"]
				c, err := env.Dynamic.Resource(certificates).Namespace(env.Config.SystemNamespace).Get(ctx, p[1], metav1.GetOptions{})
				if err != nil {
					return false, err.Error(), nil
				}
				ready, reason := certCondition(c, "Ready")
				state = append(state, p[1]+" Ready="+ready+" "+reason)
				if ready != "True" {
					return false, strings.Join(state, "; "), nil
				}
			}
			return verifies(string(data[caSecret]), data[servingSecret]), strings.Join(state, "; ") + "; serving chains to the CA?", nil
		})
	if err != nil {
		t.Fatal(err)
	}
}

func waitCertificateReady(t *testing.T, ctx context.Context, name string) *unstructured.Unstructured {
	t.Helper()
	var cert *unstructured.Unstructured
	err := framework.Poll(ctx, env.Config.Scale(2*time.Minute), time.Second, "Certificate "+name+" Ready",
		func(ctx context.Context) (bool, string, error) {
			c, err := env.Dynamic.Resource(certificates).Namespace(env.Config.SystemNamespace).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err.Error(), nil
			}
			cert = c
			st, reason := certCondition(c, "Ready")
			return st == "True", "Ready=" + st + " " + reason, nil
		})
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// certCondition returns the status and reason of a Certificate condition.
func certCondition(c *unstructured.Unstructured, typ string) (string, string) {
	conds, _, _ := unstructured.NestedSlice(c.Object, "status", "conditions")
	for _, x := range conds {
		m, _ := x.(map[string]any)
		if m["type"] == typ {
			return fmt.Sprint(m["status"]), fmt.Sprint(m["reason"])
		}
	}
	return "Unknown", ""
}

// checkIssuedByCertManager: the serving Certificate is Ready and its Secret carries the
// annotations cert-manager writes on what it issued, naming the overlay's CA Issuer.
func checkIssuedByCertManager(t *testing.T, ctx context.Context) *corev1.Secret {
	t.Helper()
	waitCertificateReady(t, ctx, servingCertificate)
	s, err := env.Kube.CoreV1().Secrets(env.Config.SystemNamespace).Get(ctx, servingSecret, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"cert-manager.io/certificate-name": servingCertificate,
		"cert-manager.io/issuer-name":      "elasti-ca",
		"cert-manager.io/issuer-kind":      "Issuer",
		"cert-manager.io/issuer-group":     "cert-manager.io",
	}
	for k, v := range want {
		if s.Annotations[k] != v {
			t.Errorf("Secret %s: annotation %s=%q, want %q", servingSecret, k, s.Annotations[k], v)
		}
	}
	if !verifies(string(s.Data["ca.crt"]), s.Data["tls.crt"]) {
		t.Errorf("Secret %s: tls.crt does not chain to its ca.crt", servingSecret)
	}
	return s
}

// checkCAInjected: cainjector wrote the CA of the serving Secret into the webhook configuration
// (the overlay's cert-manager.io/inject-ca-from) and the field is cainjector's. It returns the CA.
func checkCAInjected(t *testing.T, ctx context.Context, s *corev1.Secret) string {
	t.Helper()
	var ca string
	err := framework.Poll(ctx, env.Config.Scale(time.Minute), time.Second, "the caBundle of "+webhookConfig+" to be the serving Secret's CA",
		func(ctx context.Context) (bool, string, error) {
			mwc, err := env.Kube.AdmissionregistrationV1().MutatingWebhookConfigurations().Get(ctx, webhookConfig, metav1.GetOptions{})
			if err != nil {
				return false, "", err
			}
			if mwc.Annotations["cert-manager.io/inject-ca-from"] != env.Config.SystemNamespace+"/"+servingCertificate {
				return false, "", fmt.Errorf("%s has no cert-manager.io/inject-ca-from annotation naming %s", webhookConfig, servingCertificate)
			}
			injector := ""
			for _, mf := range mwc.ManagedFields {
				if mf.FieldsV1 != nil && strings.Contains(string(mf.FieldsV1.Raw), "caBundle") {
					injector += mf.Manager + " "
				}
			}
			// cainjector keeps the CA it injected before next to the new one (here the
			// self-managed CA the switch replaced), so the new CA must be in the bundle.
			for _, w := range mwc.Webhooks {
				ca = string(w.ClientConfig.CABundle)
				if !strings.Contains(ca, strings.TrimSpace(string(s.Data["ca.crt"]))) || !verifies(ca, s.Data["tls.crt"]) {
					return false, fmt.Sprintf("caBundle %s (written by %s) differs from the Secret's ca.crt %s",
						describePEM(w.ClientConfig.CABundle), injector, describePEM(s.Data["ca.crt"])), nil
				}
			}
			if !strings.Contains(injector, "cainjector") {
				return false, "caBundle written by " + injector, nil
			}
			return true, "", nil
		})
	if err != nil {
		t.Log(neighbourLogs(ctx, "cert-manager", "app.kubernetes.io/name=cainjector", 30))
		t.Fatal(err)
	}
	return ca
}

// describePEM names the certificates of a PEM bundle by subject and serial.
func describePEM(b []byte) string {
	var out []string
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if c, err := x509.ParseCertificate(blk.Bytes); err == nil {
			out = append(out, fmt.Sprintf("%s#%s", c.Subject.CommonName, c.SerialNumber.Text(16)))
		}
	}
	return fmt.Sprintf("%v", out)
}

// neighbourLogs is the tail of the logs of a neighbour's pods.
func neighbourLogs(ctx context.Context, ns, selector string, lines int64) string {
	pods, err := env.PodsBySelector(ctx, ns, selector)
	if err != nil {
		return err.Error()
	}
	var b strings.Builder
	for _, p := range pods {
		raw, err := env.Kube.CoreV1().Pods(ns).GetLogs(p.Name, &corev1.PodLogOptions{TailLines: ptr.To(lines)}).DoRaw(ctx)
		fmt.Fprintf(&b, "---- %s/%s (err %v) ----\n%s\n", ns, p.Name, err, raw)
	}
	return b.String()
}

func namespaceBundle(t *testing.T, f *fixture) string {
	t.Helper()
	var bundle string
	err := framework.Poll(f.ctx, env.Config.Scale(time.Minute), time.Second, "the namespace's "+names.OperatorCAConfigMap,
		func(ctx context.Context) (bool, string, error) {
			cm, err := env.Kube.CoreV1().ConfigMaps(f.ns.Name).Get(ctx, names.OperatorCAConfigMap, metav1.GetOptions{})
			if err != nil {
				return false, err.Error(), nil
			}
			bundle = cm.Data[names.OperatorCAKey]
			return bundle != "", "", nil
		})
	if err != nil {
		t.Fatal(err)
	}
	return bundle
}

func hasSidecar(p *corev1.Pod) bool {
	for _, c := range append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
		if c.Name == names.SidecarContainerName {
			return true
		}
	}
	return false
}

func restarts(p *corev1.Pod) int32 {
	var n int32
	for _, s := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		n += s.RestartCount
	}
	return n
}

// systemPods are the webhook's and operator's running pods by UID.
func systemPods(t *testing.T, ctx context.Context) map[any]corev1.Pod {
	t.Helper()
	out := map[any]corev1.Pod{}
	for _, sel := range []string{"app.kubernetes.io/name=elasti-webhook", "app.kubernetes.io/name=elasti-operator"} {
		pods, err := env.PodsBySelector(ctx, env.Config.SystemNamespace, sel)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pods {
			if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
				out[p.UID] = p
			}
		}
	}
	return out
}

// servedSerial is the serial of the leaf certificate a TLS server at addr presents.
func servedSerial(ctx context.Context, addr string) (string, error) {
	d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 3 * time.Second}, Config: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // only the presented certificate is read
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	certs := c.(*tls.Conn).ConnectionState().PeerCertificates
	if len(certs) == 0 {
		return "", fmt.Errorf("%s presented no certificate", addr)
	}
	return certs[0].SerialNumber.Text(16), nil
}

// waitServing waits until every pod of pods presents the certificate with serial want: webhook
// pods on 9443, operator pods on the elastiserver port.
func waitServing(t *testing.T, ctx context.Context, pods map[any]corev1.Pod, want string) {
	t.Helper()
	err := framework.Poll(ctx, env.Config.Scale(4*time.Minute), time.Second, "every webhook and operator pod to serve certificate "+want+" (the kubelet updates a mounted Secret within about a minute)",
		func(ctx context.Context) (bool, string, error) {
			var stale []string
			for _, p := range pods {
				port := "9443"
				if p.Labels["app.kubernetes.io/name"] == "elasti-operator" {
					port = fmt.Sprint(names.DefaultElastiServerPort)
				}
				got, err := servedSerial(ctx, net.JoinHostPort(p.Status.PodIP, port))
				if err != nil || got != want {
					stale = append(stale, fmt.Sprintf("%s=%s%v", p.Name, got, errOrNil(err)))
				}
			}
			return len(stale) == 0, strings.Join(stale, " "), nil
		})
	if err != nil {
		t.Fatal(err)
	}
}

func errOrNil(err error) string {
	if err == nil {
		return ""
	}
	return "(" + err.Error() + ")"
}

func serial(t *testing.T, certPEM []byte) string {
	t.Helper()
	b, _ := pem.Decode(certPEM)
	if b == nil {
		t.Fatal("no PEM certificate")
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c.SerialNumber.Text(16)
}

// renew does what `cmctl renew` does: it sets the Certificate's Issuing condition, and
// cert-manager issues a new certificate into the same Secret.
func renew(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	res := env.Dynamic.Resource(certificates).Namespace(env.Config.SystemNamespace)
	c, err := res.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	conds, _, _ := unstructured.NestedSlice(c.Object, "status", "conditions")
	conds = append(conds, map[string]any{
		"type": "Issuing", "status": "True", "reason": "ManuallyTriggered",
		"message":            "Certificate re-issuance manually triggered by Elasti's e2e suite",
		"lastTransitionTime": time.Now().UTC().Format(time.RFC3339),
		"observedGeneration": c.GetGeneration(),
	})
	if err := unstructured.SetNestedSlice(c.Object, conds, "status", "conditions"); err != nil {
		t.Fatal(err)
	}
	if _, err := res.UpdateStatus(ctx, c, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("setting Certificate %s Issuing: %v", name, err)
	}
}

// waitReissued waits until the serving Secret holds a certificate other than oldSerial and the
// Certificate is Ready again.
func waitReissued(t *testing.T, ctx context.Context, oldSerial string) *corev1.Secret {
	t.Helper()
	var s *corev1.Secret
	err := framework.Poll(ctx, env.Config.Scale(2*time.Minute), 500*time.Millisecond, "cert-manager to issue a new serving certificate",
		func(ctx context.Context) (bool, string, error) {
			var err error
			s, err = env.Kube.CoreV1().Secrets(env.Config.SystemNamespace).Get(ctx, servingSecret, metav1.GetOptions{})
			if err != nil {
				return false, err.Error(), nil
			}
			c, err := env.Dynamic.Resource(certificates).Namespace(env.Config.SystemNamespace).Get(ctx, servingCertificate, metav1.GetOptions{})
			if err != nil {
				return false, err.Error(), nil
			}
			ready, _ := certCondition(c, "Ready")
			issuing, _ := certCondition(c, "Issuing")
			b, _ := pem.Decode(s.Data["tls.crt"])
			if b == nil {
				return false, "no certificate in the Secret", nil
			}
			x, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				return false, err.Error(), nil
			}
			now := x.SerialNumber.Text(16)
			return now != oldSerial && ready == "True" && issuing != "True", fmt.Sprintf("serial %s Ready=%s Issuing=%s", now, ready, issuing), nil
		})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// admissions creates pods that the webhook must inject, in a loop: a server-side dry-run every
// 200 ms and a real pod (deleted at once) every 2 s. A request that fails, or a pod that comes
// back without the sidecar (the webhook's failurePolicy is Ignore), is a failed admission.
type admissions struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	ok     int
	failed []string
}

func startAdmissions(f *fixture) *admissions {
	ctx, cancel := context.WithCancel(f.ctx)
	a := &admissions{cancel: cancel}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		for i := 0; ctx.Err() == nil; i++ {
			real := i%10 == 0
			a.record(admitOnce(ctx, f, i, real))
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	return a
}

func (a *admissions) record(err error) {
	if err != nil && errors.Is(err, context.Canceled) {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		a.failed = append(a.failed, fmt.Sprintf("%s: %v", time.Now().Format("15:04:05.000"), err))
		return
	}
	a.ok++
}

func (a *admissions) stop() (int, []string) {
	a.cancel()
	a.wg.Wait()
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.ok, append([]string(nil), a.failed...)
}

func admitOnce(ctx context.Context, f *fixture, i int, real bool) error {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("admission-%d", i), Labels: map[string]string{"app": "e2e-gateway"}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](0),
			Containers: []corev1.Container{{Name: "gateway", Image: env.Config.GatewayImage, ImagePullPolicy: corev1.PullIfNotPresent,
				Args: []string{"--listen=:8080"}, Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}},
		},
	}
	opts := metav1.CreateOptions{}
	if !real {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	pods := env.Kube.CoreV1().Pods(f.ns.Name)
	got, err := pods.Create(ctx, pod, opts)
	if err != nil {
		return fmt.Errorf("creating pod %s (dry-run=%v): %w", pod.Name, !real, err)
	}
	if real {
		defer func() {
			_ = pods.Delete(context.Background(), pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
		}()
	}
	if !hasSidecar(got) {
		return fmt.Errorf("pod %s (dry-run=%v) admitted without the sidecar", pod.Name, !real)
	}
	return nil
}
