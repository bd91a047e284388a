package docsection

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestReplace(t *testing.T) {
	const w = "make bench-forward"
	sec := "<!-- begin fwd: written by make bench-forward -->\nnew\n<!-- end fwd -->\n"
	for _, tc := range []struct {
		name, doc, want string
	}{
		{name: "empty page", doc: "", want: sec},
		{name: "appended after the page", doc: "# B\n\ntext\n", want: "# B\n\ntext\n\n" + sec},
		{name: "replaced in place",
			doc:  "# B\n\n<!-- begin fwd: written by x -->\nold\nlines\n<!-- end fwd -->\n\n## After\n",
			want: "# B\n\n" + sec + "\n## After\n"},
		{name: "other sections untouched",
			doc:  "<!-- begin other: written by y -->\nz\n<!-- end other -->\n",
			want: "<!-- begin other: written by y -->\nz\n<!-- end other -->\n\n" + sec},
		{name: "an unterminated section is not one",
			doc:  "<!-- begin fwd: written by x -->\nold\n",
			want: "<!-- begin fwd: written by x -->\nold\n\n" + sec},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, Replace(tc.doc, "fwd", w, "new\n"))
		})
	}
}

func TestKeepCarriesSectionsOver(t *testing.T) {
	old := "# Old page\n\n<!-- begin fwd: written by make bench-forward -->\nfigures\n<!-- end fwd -->\n\nold tail\n"
	t.Run("a page without the section gets it", func(t *testing.T) {
		assert.Equal(t, "# New page\n\n<!-- begin fwd: written by make bench-forward -->\nfigures\n<!-- end fwd -->\n",
			Keep("# New page\n", old))
	})
	t.Run("a page with its own copy keeps its own", func(t *testing.T) {
		page := "# New\n<!-- begin fwd: written by me -->\nmine\n<!-- end fwd -->\n"
		assert.Equal(t, page, Keep(page, old))
	})
	t.Run("no sections, nothing added", func(t *testing.T) {
		assert.Equal(t, "# New\n", Keep("# New\n", "# Old\n"))
	})
	t.Run("a refreshed section survives the next full rewrite", func(t *testing.T) {
		doc := Replace("# Page\n", "fwd", "make bench-forward", "v2")
		assert.Contains(t, Keep("# Rewritten\n", doc), "\nv2\n<!-- end fwd -->\n")
	})
}
