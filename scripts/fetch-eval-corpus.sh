#!/usr/bin/env bash
# Builds the corpora of the retrieval evaluation sets (eval/sets/*) from documentation shipped in
# Debian 12 (bookworm) packages: downloads each .deb with apt-get, checks it against a pinned
# sha256, unpacks it with dpkg-deb and copies a fixed list of pages into OUT_DIR/<set>/, flat, so
# the corpus-id of a page is its file name (e.g. pg-en/sql-createindex.html). Each corpus is then
# checked against a pinned digest of its files. Idempotent: a corpus already present and verified
# is left alone; a .deb already downloaded and verified is reused (OUT_DIR/.debs/).
#
# Usage: scripts/fetch-eval-corpus.sh [OUT_DIR]     (default: eval/corpus in this repository)
# Needs: sha256sum, and dpkg-deb (or ar and tar). Downloads go through apt-get when there is one
# (as root it runs `apt-get update` when the package lists lack a pinned version); when apt-get
# is missing or no longer offers the pinned version, the .deb is fetched with curl or wget from the
# deb.debian.org pool, then from snapshot.debian.org, and always checked against its sha256.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-$repo/eval/corpus}

# --- pinned packages -------------------------------------------------------------------------
# set | package | version | sha256 of the .deb | sha1 of the .deb (snapshot.debian.org fallback)
# | pool path on deb.debian.org | directory inside the package | corpus digest | page count
# The corpus digest is the sha256 of `sha256sum` over the corpus files sorted by name (see
# corpus_digest below).
PG_PKG=postgresql-doc-15
PG_VERSION=15.20-0+deb12u1
PG_DEB_SHA256=4c44bf2c599f208b3f46454a6cf7a72e25ec46ff74d37b59dd31ad76b00eebb7
PG_DEB_SHA1=6eb9609bc048fa4e6feaacd61555d2a25cf7c7f4
PG_POOL=debian-security/pool/updates/main/p/postgresql-15
PG_DIR=usr/share/doc/postgresql-doc-15/html
PG_DIGEST=051fed5e2ef4c551c6f69f901140dc294746f79366371cc77b69fe62b9e847b0
PG_COUNT=157

HB_PKG=debian-handbook
HB_VERSION=11.20220922
HB_DEB_SHA256=3d5dbeac1f1afc9c094eab9d0f701f6ecff99c4927d5a4794cf6c85678134faa
HB_DEB_SHA1=5ee1e8936b0f0220b2e6074fc8bb8efc6515e318
HB_POOL=debian/pool/main/d/debian-handbook
HB_DIR_PT=usr/share/doc/debian-handbook/html/pt-BR
HB_DIGEST_PT=284a9d0a2ea2f86e3edadfb83c3a320957b9de7ea4ed323287d141fad508c098
HB_DIR_EN=usr/share/doc/debian-handbook/html/en-US
HB_DIGEST_EN=35ab9c3c39442ca2b13299c1618274bd96254eb3afd09a0352f72cb72dab33cf
HB_COUNT=127

# The PostgreSQL 15 manual pages of the pg-en set (file names without .html): SQL commands,
# functions, configuration parameters, error handling, tutorial and concept chapters, tools.
PG_PAGES="
sql-altersystem sql-altertable sql-alterrole sql-analyze sql-begin sql-checkpoint sql-cluster
sql-comment sql-copy sql-createdatabase sql-createextension sql-createfunction sql-createindex
sql-creatematerializedview sql-createpolicy sql-createpublication sql-createrole sql-createschema
sql-createsequence sql-createstatistics sql-createsubscription sql-createtable sql-createtableas
sql-createtrigger sql-createview sql-declare sql-delete sql-discard sql-do sql-dropindex
sql-droptable sql-explain sql-grant sql-insert sql-listen sql-lock sql-merge sql-notify
sql-prepare sql-refreshmaterializedview sql-reindex sql-revoke sql-savepoint sql-select sql-set
sql-set-transaction sql-show sql-truncate sql-update sql-vacuum sql-values sql-prepare-transaction
sql-reassign-owned sql-drop-owned sql-alterdefaultprivileges sql-createprocedure
functions-admin functions-aggregate functions-array functions-comparison functions-conditional
functions-datetime functions-formatting functions-info functions-json functions-math
functions-sequence functions-srf functions-string functions-subquery functions-textsearch
functions-uuid functions-window
runtime-config-autovacuum runtime-config-client runtime-config-connection
runtime-config-error-handling runtime-config-file-locations runtime-config-locks
runtime-config-logging runtime-config-query runtime-config-replication runtime-config-resource
runtime-config-statistics runtime-config-wal runtime-config-preset config-setting
errcodes-appendix plpgsql-errors-and-messages mvcc-serialization-failure-handling
tutorial-arch tutorial-createdb tutorial-concepts tutorial-join tutorial-agg tutorial-views
tutorial-fk tutorial-transactions tutorial-window
indexes-intro indexes-types indexes-multicolumn indexes-partial indexes-expressional
indexes-index-only-scans indexes-unique indexes-examine
mvcc-intro transaction-iso explicit-locking mvcc-caveats
ddl-constraints ddl-partitioning ddl-rowsecurity ddl-schemas ddl-generated-columns ddl-priv
ddl-inherit ddl-system-columns
queries-with queries-limit
datatype-json datatype-numeric datatype-datetime datatype-uuid
textsearch-intro textsearch-indexes
performance-tips using-explain populate non-durability routine-vacuuming routine-reindex
backup-dump continuous-archiving auth-pg-hba-conf auth-password monitoring-stats monitoring-locks
wal-async-commit wal-configuration wal-intro hot-standby logical-replication
app-psql app-pgdump app-pgrestore app-pgbasebackup app-initdb app-pg-ctl app-vacuumdb
plpgsql-control-structures plpgsql-trigger
pgstatstatements pgtrgm libpq-envars storage-toast
"

log() { printf '%s\n' "$*" >&2; }
die() { log "fetch-eval-corpus: $*"; exit 1; }

command -v sha256sum >/dev/null || die "sha256sum is needed (coreutils)"

# sha256 over the sorted list of `sha256sum NAME` lines of the files of a corpus directory.
corpus_digest() {
  (cd "$1" && find . -type f ! -name '.*' -printf '%P\0' | LC_ALL=C sort -z | xargs -0 -r sha256sum) |
    sha256sum | cut -d' ' -f1
}

corpus_ok() { # dir digest count
  [ -d "$1" ] || return 1
  local n
  n=$(find "$1" -type f ! -name '.*' | wc -l)
  [ "$n" -eq "$3" ] && [ "$(corpus_digest "$1")" = "$2" ]
}

deb_ok() { # file sha256
  [ -f "$1" ] && [ "$(sha256sum "$1" | cut -d' ' -f1)" = "$2" ]
}

# Puts PKG_VERSION_all.deb, verified, in $out/.debs and prints its path.
fetch_deb() { # pkg version sha256 sha1 pool
  local pkg=$1 version=$2 sha=$3 sha1=$4 pool=$5
  local cache="$out/.debs" name="${pkg}_${version}_all.deb"
  mkdir -p "$cache"
  if deb_ok "$cache/$name" "$sha"; then
    printf '%s\n' "$cache/$name"
    return
  fi
  local tmp got=""
  tmp=$(mktemp -d)
  if command -v apt-get >/dev/null; then
    # apt drops privileges to _apt when run as root: let it write in the download directory.
    if [ "$(id -u)" -eq 0 ] && id _apt >/dev/null 2>&1; then chown _apt "$tmp"; fi
    if ! apt-cache show "$pkg=$version" >/dev/null 2>&1; then
      if [ "$(id -u)" -eq 0 ]; then
        log "$pkg $version is not in the package lists: running apt-get update"
        apt-get update -qq >&2 || log "apt-get update failed"
      else
        log "$pkg $version is not in the package lists (run apt-get update as root?)"
      fi
    fi
    if (cd "$tmp" && apt-get download -qq "$pkg=$version" >&2) && deb_ok "$tmp/$name" "$sha"; then
      got="$tmp/$name"
    fi
  else
    log "no apt-get here: downloading $pkg $version directly"
  fi
  if [ -z "$got" ]; then
    # The pinned version may have left the archive (security updates replace it): try the pool
    # and snapshot.debian.org, which keeps every file ever published by its sha1.
    local url
    for url in "https://deb.debian.org/$pool/$name" "https://snapshot.debian.org/file/$sha1"; do
      log "trying $url"
      rm -f "$tmp/$name"
      if command -v curl >/dev/null; then
        curl -fsSL --retry 2 -o "$tmp/$name" "$url" || continue
      elif command -v wget >/dev/null; then
        wget -q -O "$tmp/$name" "$url" || continue
      else
        break
      fi
      if deb_ok "$tmp/$name" "$sha"; then got="$tmp/$name"; break; fi
      log "$url: sha256 mismatch"
    done
  fi
  [ -n "$got" ] || { rm -rf "$tmp"; die "cannot get $pkg $version with sha256 $sha"; }
  mv "$got" "$cache/$name"
  rm -rf "$tmp"
  log "$pkg $version: downloaded and verified"
  printf '%s\n' "$cache/$name"
}

# Unpacks a .deb into a new temporary directory and prints its path (dpkg-deb, or ar and tar).
unpack() {
  local dir deb
  dir=$(mktemp -d)
  if command -v dpkg-deb >/dev/null; then
    dpkg-deb -x "$1" "$dir"
  elif command -v ar >/dev/null; then
    deb=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
    (cd "$dir" && ar x "$deb" && tar -xf data.tar.* && rm -f debian-binary control.tar.* data.tar.*)
  else
    die "dpkg-deb (package dpkg) or ar (binutils) is needed to unpack $1"
  fi
  printf '%s\n' "$dir"
}

# Replaces $out/<set> with the staged copy once it matches the pinned digest.
install_set() { # set staged digest count
  local set=$1 staged=$2 digest=$3 count=$4 got n
  n=$(find "$staged" -type f | wc -l)
  got=$(corpus_digest "$staged")
  if [ "$n" -ne "$count" ] || [ "$got" != "$digest" ]; then
    die "$set: got $n pages with digest $got, pinned $count pages with digest $digest"
  fi
  rm -rf "${out:?}/$set"
  mv "$staged" "$out/$set"
  log "$set: $count pages in $out/$set"
}

mkdir -p "$out"
cleanup=()
trap 'rm -rf "${cleanup[@]}"' EXIT

# --- pg-en: PostgreSQL 15 manual (English) ---------------------------------------------------
if corpus_ok "$out/pg-en" "$PG_DIGEST" "$PG_COUNT"; then
  log "pg-en: present and verified ($out/pg-en)"
else
  deb=$(fetch_deb "$PG_PKG" "$PG_VERSION" "$PG_DEB_SHA256" "$PG_DEB_SHA1" "$PG_POOL")
  root=$(unpack "$deb")
  cleanup+=("$root")
  staged=$(mktemp -d "$out/.pg-en.XXXXXX")
  cleanup+=("$staged")
  for page in $PG_PAGES; do
    [ -f "$root/$PG_DIR/$page.html" ] || die "pg-en: $page.html is not in $PG_PKG $PG_VERSION"
    cp "$root/$PG_DIR/$page.html" "$staged/$page.html"
  done
  chmod 755 "$staged"
  install_set pg-en "$staged" "$PG_DIGEST" "$PG_COUNT"
fi

# --- handbook-pt / handbook-en: The Debian Administrator's Handbook -------------------------
# Brazilian Portuguese translation and English original, from the same package; both have the
# same 127 page names, so a page of one is the translation of the page of the same name.
hb_root=""
for lang in pt en; do
  if [ "$lang" = pt ]; then dir=$HB_DIR_PT digest=$HB_DIGEST_PT; else dir=$HB_DIR_EN digest=$HB_DIGEST_EN; fi
  set_name=handbook-$lang
  if corpus_ok "$out/$set_name" "$digest" "$HB_COUNT"; then
    log "$set_name: present and verified ($out/$set_name)"
    continue
  fi
  if [ -z "$hb_root" ]; then
    deb=$(fetch_deb "$HB_PKG" "$HB_VERSION" "$HB_DEB_SHA256" "$HB_DEB_SHA1" "$HB_POOL")
    hb_root=$(unpack "$deb")
    cleanup+=("$hb_root")
  fi
  staged=$(mktemp -d "$out/.$set_name.XXXXXX")
  cleanup+=("$staged")
  # Every page of the language (the top directory only: no images, no shared CSS).
  find "$hb_root/$dir" -maxdepth 1 -type f -name '*.html' -exec cp -t "$staged" {} +
  chmod 755 "$staged"
  install_set "$set_name" "$staged" "$digest" "$HB_COUNT"
done

log "corpora ready in $out; check the sets with: python3 eval/check_sets.py --corpus $out"
