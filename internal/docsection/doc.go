// Package docsection keeps marked sections of a generated Markdown page. Two tools write
// docs/benchmarks.md: `make bench-e2e` rewrites the whole page, and `make bench-forward` owns
// one section of it. A section is delimited by HTML comments that Markdown does not render,
//
//	<!-- begin forward-vs-nginx: written by make bench-forward -->
//	...
//	<!-- end forward-vs-nginx -->
//
// so a tool that rewrites the page carries the sections it does not own over (Keep), and a
// tool that owns a section replaces only it (Replace).
package docsection
