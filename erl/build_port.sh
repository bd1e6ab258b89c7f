#!/bin/sh
# rebar3's post-compile hook (rebar.config here and at the repository's
# root): builds `ferry`, the Rust half, with cargo and puts it in the
# application's priv/, where code:priv_dir(ferry) finds it. The Mix
# counterpart is elixir_client/lib/mix/tasks/compile.ferry_rust.ex.
#
# Cargo keeps its own fingerprints, so an unchanged tree costs a no-op
# cargo run; the binary is copied only when it changed.
#
# Where things go:
# * Ferry is the project being built (`cd erl && rebar3 compile`): as
#   `make build`, cargo's target/ of the repository and erl/priv/ferry.
# * Ferry is a dependency (a git dependency, or _checkouts/ferry): the
#   user's _build holds all of it, cargo's output in _build/ferry_cargo and
#   the binary in the application's directory under _build; nothing is
#   written into a checkout's source tree.
# CARGO_TARGET_DIR, when set, is cargo's target directory in every case;
# CARGO names the cargo executable.
set -eu

say() { echo "===> ferry: $*"; }

app_dir=$(pwd -P)
if [ -f "$app_dir/Cargo.toml" ]; then
    root=$app_dir
elif [ -f "$app_dir/../Cargo.toml" ]; then
    root=$(cd "$app_dir/.." && pwd -P)
else
    say "no Rust sources (Cargo.toml) next to $app_dir, so no ferry executable is built;"
    say "depend on Ferry's repository root rather than its erl/ directory, or give the path"
    say "of a ferry executable in the listener's binary option"
    exit 0
fi

resolved() { (cd "$1" 2>/dev/null && pwd -P) || true; }

build_dir=${REBAR_BUILD_DIR:-$app_dir/_build/default}
if [ "$(resolved "${REBAR_ROOT_DIR:-/nonexistent}")" = "$app_dir" ]; then
    out=$app_dir
    target=${CARGO_TARGET_DIR:-$root/target}
else
    if [ -n "${REBAR_CHECKOUTS_DIR:-}" ] \
        && [ "$(resolved "$REBAR_CHECKOUTS_DIR/ferry")" = "$app_dir" ]; then
        out=$REBAR_CHECKOUTS_OUT_DIR/ferry
    else
        out=$app_dir
    fi
    target=${CARGO_TARGET_DIR:-$(dirname "$build_dir")/ferry_cargo}
    # rebar3 links a checkout's priv/ to its source; a directory of its own
    # keeps the binary out of the source tree (rebar3 leaves it be).
    if [ -L "$out/priv" ]; then
        rm "$out/priv"
    fi
fi

binary=$out/priv/ferry
cargo=${CARGO:-cargo}
if ! command -v "$cargo" >/dev/null 2>&1; then
    if [ -x "$binary" ]; then
        say "$cargo not found: keeping $binary as it is"
        exit 0
    fi
    say "$cargo not found, and there is no $binary: install Rust (https://rustup.rs)"
    say "and compile again, or give the path of a ferry executable in the binary option"
    exit 1
fi

say "$cargo build --release --locked (in $root, target $target)"
if ! CARGO_TARGET_DIR=$target "$cargo" build --release --locked --manifest-path "$root/Cargo.toml"; then
    say "cargo build failed (output above): the ferry executable is not built"
    exit 1
fi

mkdir -p "$out/priv"
if ! cmp -s "$target/release/ferry" "$binary"; then
    # A new name then a rename: a running port keeps its old file.
    cp "$target/release/ferry" "$binary.tmp"
    chmod 755 "$binary.tmp"
    mv -f "$binary.tmp" "$binary"
    say "installed $binary"
fi
