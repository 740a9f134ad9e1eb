#!/usr/bin/env bash
# Debian's PostgreSQL for the tests that need pg_stat_statements (the embedded servers
# lack it), with pgvector built from Debian's own source package (bookworm packages no
# pgvector; trixie's source, 0.8.0, builds against PostgreSQL 15 in seconds).
# Idempotent; run as root. .ci/run calls it; so can a developer.
set -euo pipefail
pkgs=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || pkgs+=(postgresql postgresql-contrib)
command -v pg_config >/dev/null 2>&1 && ls /usr/lib/postgresql/*/bin/pg_config >/dev/null 2>&1 \
    && ls /usr/include/postgresql/*/server/postgres.h >/dev/null 2>&1 || pkgs+=(postgresql-server-dev-all)
if ((${#pkgs[@]})); then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi
for bin in /usr/lib/postgresql/*/bin; do
    major=$(basename "$(dirname "$bin")")
    [ -f "/usr/share/postgresql/$major/extension/vector.control" ] && continue
    ls "/usr/include/postgresql/$major/server/postgres.h" >/dev/null 2>&1 || \
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "postgresql-server-dev-$major" >/dev/null
    src=/etc/apt/sources.list.d/vecscope-pgvector-src.sources
    if [ ! -f "$src" ]; then
        printf '%s\n' 'Types: deb-src' 'URIs: http://deb.debian.org/debian' 'Suites: trixie' \
            'Components: main' 'Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg' > "$src"
        apt-get update -qq
    fi
    work=$(mktemp -d)
    (cd "$work" && apt-get source --download-only -qq pgvector >/dev/null 2>&1)
    tar xzf "$work"/pgvector_*.orig.tar.gz -C "$work"
    make -s -C "$work"/pgvector-* PG_CONFIG="$bin/pg_config" >/dev/null
    make -s -C "$work"/pgvector-* PG_CONFIG="$bin/pg_config" install >/dev/null
    rm -rf "$work"
    echo "pgvector built for Debian's PostgreSQL $major"
done
