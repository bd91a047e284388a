// Package deps holds no Go code of its own: it is the home of deps.sh, which installs (or says
// how to install) the Debian packages listed in packages.txt, and of the tests of that script's
// decisions (deps_test.go runs it against stub `id` and `apt-get` commands).
package deps
