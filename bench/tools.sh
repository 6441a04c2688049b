# tools.sh - how each build tool is run, installed, versioned and reset; sourced
# by run.sh and ab.sh (uses HERE, VENV, JUST, TURBO, CONDUCT, CONDUCT_ARGS, and
# CONDUCT_BASE: a second conduct binary, tool `conduct-base`, to time a change
# against the build before it in the same interleaved run).

build_cmd() {
  case $1 in
    make)      echo "make -j2" ;;
    ninja)     echo "ninja -j2" ;;
    task)      echo "$VENV/bin/task -C 2 -s" ;;
    snakemake) echo "$VENV/bin/snakemake -c2 -q" ;;
    doit)      echo "$VENV/bin/doit -n 2" ;;
    just)      echo "$JUST" ;;
    just-par)  echo "$JUST -f parallel.just --jobs 2" ;;
    turbo)     echo "$TURBO run all --concurrency=2" ;;
    conduct)   echo "$CONDUCT build all $CONDUCT_ARGS" ;;
    conduct-base) echo "$CONDUCT_BASE build all $CONDUCT_ARGS" ;;
  esac
}
tool_exe() {      # what must be installed for the tool to run
  case $1 in
    make) echo make ;;
    ninja) echo ninja ;;
    task|snakemake|doit) echo "$VENV/bin/$1" ;;
    just|just-par) echo "$JUST" ;;
    turbo) echo "$TURBO" ;;
    conduct) echo "$CONDUCT" ;;
    conduct-base) echo "${CONDUCT_BASE:-conduct-base-not-set}" ;;
  esac
}
installed() {
  command -v "$(tool_exe "$1")" > /dev/null 2>&1 || return 1
  [ "$1" != turbo ] || command -v npm > /dev/null 2>&1   # turbo runs npm scripts
}
tool_version() {
  case $1 in
    make) make --version | sed -n 1p ;;
    ninja) echo "ninja $(ninja --version)" ;;
    task) echo "go-task $("$VENV/bin/task" --version | sed 's/^Task version: //')" ;;
    snakemake) echo "snakemake $("$VENV/bin/snakemake" --version)" ;;
    doit) echo "doit $("$VENV/bin/doit" --version 2>/dev/null | sed -n 1p)" ;;
    just|just-par) "$JUST" --version ;;
    turbo) echo "turbo $("$TURBO" --version 2>/dev/null | tail -1)" ;;
    conduct) echo "conduct $(git -C "$HERE/.." describe --always --dirty 2>/dev/null || echo '?') ($CONDUCT)" ;;
    conduct-base) echo "conduct (base for A/B) ($CONDUCT_BASE)" ;;
  esac
}
state_files() {   # tool state removed for a cold build (besides out/)
  case $1 in
    ninja) echo ".ninja_log .ninja_deps" ;;
    task) echo ".task" ;;
    snakemake) echo ".snakemake" ;;
    doit) echo ".doit.db .doit.db.dat .doit.db.dir .doit.db.bak" ;;
    turbo) echo ".turbo" ;;
    conduct|conduct-base) echo ".cache" ;;
    *) echo "" ;;
  esac
}
has_cache() {     # restores deleted outputs from a cache instead of rebuilding
  case $1 in conduct|conduct-base|turbo) return 0 ;; *) return 1 ;; esac
}
