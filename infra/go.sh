# The Go toolchain the project builds its Go tools with (Jaeger, promtool). Source, after
# lib.sh, don't run. Builds keep their module and build caches under the project's cache.
GO_DIR="$EVENTSHOP_CACHE_DIR/go"
GO_PROXY_URL="${GOPROXY:-}"
GO_PROXY_URL="${GO_PROXY_URL%%,*}"
[[ "$GO_PROXY_URL" == http* ]] || GO_PROXY_URL=https://proxy.golang.org

# The Go toolchain of the machine image lives here when it is not on PATH.
[[ -d /usr/local/go/bin ]] && PATH="$PATH:/usr/local/go/bin"

# go_at_least VERSION: the go on PATH is VERSION or later.
go_at_least() {
  local version
  command -v go >/dev/null || return 1
  version="$(GOTOOLCHAIN=local go env GOVERSION 2>/dev/null)" || return 1
  version="${version#go}"
  [[ "$(printf '%s\n%s\n' "$1" "$version" | sort -V | head -n1)" == "$1" ]]
}

# ensure_go MINIMUM [RELEASE]: put a Go >= MINIMUM on PATH: the machine's, or Go RELEASE
# (MINIMUM unless given) fetched once into the cache. Go publishes each release on the module
# proxy as golang.org/toolchain (what GOTOOLCHAIN=auto downloads).
ensure_go() {
  local minimum="$1" release="${2:-$1}" arch dir zip
  go_at_least "$minimum" && return 0
  case "$(uname -m)" in
    x86_64) arch=amd64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) die "no Go toolchain for $(uname -m); install Go $minimum or later" ;;
  esac
  dir="$EVENTSHOP_CACHE_DIR/go-toolchain/go$release.linux-$arch"
  if [[ ! -x "$dir/bin/go" ]]; then
    zip="$dir.zip.part"
    log "fetching Go $release from the Go module proxy (no Go $minimum or later here)"
    mkdir -p "$(dirname "$dir")"
    curl -fsSL --retry 3 --max-time 600 -o "$zip" \
      "$GO_PROXY_URL/golang.org/toolchain/@v/v0.0.1-go$release.linux-$arch.zip" \
      || die "downloading the Go toolchain from $GO_PROXY_URL failed"
    python3 "$INFRA_DIR/jaeger/unzip_toolchain.py" "$zip" "$dir" \
      || die "unpacking the Go toolchain failed"
    rm -f "$zip"
  fi
  PATH="$dir/bin:$PATH"
}

go_env() {
  env GOPATH="$GO_DIR" GOMODCACHE="$GO_DIR/mod" GOCACHE="$GO_DIR/build" GOFLAGS=-mod=mod \
    GOTOOLCHAIN=local "$@"
}
