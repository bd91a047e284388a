// Command ocipack packs one static binary into a single-layer OCI image and writes it as an image
// archive (the `docker save` layout, which `ctr images import` and `kind load image-archive` read),
// so that Elasti's images can be built and loaded without Docker or a registry.
//
// The image holds the binary, /tmp (1777) and minimal /etc/passwd and /etc/group files naming root
// and nonroot (65532). Timestamps are fixed, so the same binary gives the same image digest.
//
//	ocipack -binary bin/linux/operator -image elasti/operator:v0.1.0-dev -out bin/images/operator.tar
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// epoch is the fixed modification and creation time of everything in the image.
var epoch = time.Unix(0, 0).UTC()

type options struct {
	binary, image, out, dest, user, arch string
	args                                 string
}

func main() {
	var o options
	flag.StringVar(&o.binary, "binary", "", "static binary to pack (required)")
	flag.StringVar(&o.image, "image", "", "image reference to tag the archive with, e.g. elasti/operator:v0.1.0-dev (required)")
	flag.StringVar(&o.out, "out", "", "archive to write (required)")
	flag.StringVar(&o.dest, "path", "", "path of the binary inside the image (default /<basename of -binary>); it is the entrypoint")
	flag.StringVar(&o.user, "user", "65532:65532", "user the image runs as")
	flag.StringVar(&o.arch, "arch", "amd64", "architecture recorded in the image config")
	flag.StringVar(&o.args, "args", "", "default arguments (Cmd), space-separated")
	flag.Parse()
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "ocipack:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	if o.binary == "" || o.image == "" || o.out == "" {
		return fmt.Errorf("-binary, -image and -out are required")
	}
	if o.dest == "" {
		o.dest = "/" + path.Base(o.binary)
	}
	tag, err := name.NewTag(o.image)
	if err != nil {
		return fmt.Errorf("parsing image reference %q (expected repo:tag): %w", o.image, err)
	}
	if tag.TagStr() == "latest" {
		return fmt.Errorf("image %q: use a fixed tag, not latest (imported images cannot be pulled again)", o.image)
	}
	img, err := build(o)
	if err != nil {
		return err
	}
	if err := tarball.WriteToFile(o.out, tag, img); err != nil {
		return fmt.Errorf("writing %s: %w", o.out, err)
	}
	digest, err := img.Digest()
	if err != nil {
		return fmt.Errorf("computing digest: %w", err)
	}
	fmt.Printf("%s %s %s\n", o.out, tag.String(), digest)
	return nil
}

// build returns the image: one layer, config with platform, entrypoint and user.
func build(o options) (v1.Image, error) {
	layerTar, err := layer(o.binary, o.dest)
	if err != nil {
		return nil, err
	}
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return nil, fmt.Errorf("making layer: %w", err)
	}
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		return nil, fmt.Errorf("appending layer: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture, cfg.Created = "linux", o.arch, v1.Time{Time: epoch}
	cfg.Config.Entrypoint = []string{o.dest}
	cfg.Config.Cmd = strings.Fields(o.args)
	cfg.Config.User = o.user
	cfg.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, fmt.Errorf("setting config: %w", err)
	}
	return mutate.CreatedAt(img, v1.Time{Time: epoch})
}

// layer returns the layer's tar: directories, passwd/group and the binary at dest.
func layer(binary, dest string) ([]byte, error) {
	bin, err := os.ReadFile(binary)
	if err != nil {
		return nil, fmt.Errorf("reading binary: %w", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	entries := []struct {
		name string
		mode int64
		body []byte
	}{
		{name: "etc/", mode: 0o755},
		{name: "tmp/", mode: 0o1777},
		{name: "etc/passwd", mode: 0o644, body: []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{name: "etc/group", mode: 0o644, body: []byte("root:x:0:\nnonroot:x:65532:\n")},
	}
	for _, dir := range parents(dest) {
		if dir != "etc/" && dir != "tmp/" {
			entries = append(entries, struct {
				name string
				mode int64
				body []byte
			}{name: dir, mode: 0o755})
		}
	}
	entries = append(entries, struct {
		name string
		mode int64
		body []byte
	}{name: strings.TrimPrefix(dest, "/"), mode: 0o755, body: bin})
	for _, e := range entries {
		if err := writeEntry(tw, e.name, e.mode, e.body); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("closing layer: %w", err)
	}
	return buf.Bytes(), nil
}

// parents returns the directories above p, outermost first, each with a trailing slash.
func parents(p string) []string {
	var dirs []string
	for d := path.Dir(path.Clean("/" + p)); d != "/"; d = path.Dir(d) {
		dirs = append([]string{strings.TrimPrefix(d, "/") + "/"}, dirs...)
	}
	return dirs
}

func writeEntry(tw *tar.Writer, name string, mode int64, body []byte) error {
	hdr := &tar.Header{Name: name, Mode: mode, ModTime: epoch, Uname: "root", Gname: "root", Format: tar.FormatPAX}
	if strings.HasSuffix(name, "/") {
		hdr.Typeflag = tar.TypeDir
	} else {
		hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(body))
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("writing %s header: %w", name, err)
	}
	if _, err := tw.Write(body); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}
