#!/usr/bin/env bash
# Installs real VS Code for the end-to-end tests: code-server 4.100.3 (VS Code 1.100.3, the last
# release that runs on Node 20), into a cache outside the repo, offline except
# for the npm registry. The steps are the facts of ../shared/recipes/code-server.md:
# code-server's own install scripts download ripgrep from GitHub and refuse root, so they are
# skipped and their work is redone here. Idempotent: a working install is left alone.
#
#   KLP_E2E_CACHE   where to install (default ~/.cache/livepatch-lens-e2e)
#
# Needs the Debian packages chromium, ripgrep and libkrb5-dev (.ci/run installs them).
set -euo pipefail
CACHE="${KLP_E2E_CACHE:-$HOME/.cache/livepatch-lens-e2e}"
CS_VERSION=4.100.3

for bin in /usr/bin/chromium /usr/bin/rg; do
  [ -x "$bin" ] || { echo "e2e-setup: $bin is missing: apt-get install chromium ripgrep libkrb5-dev" >&2; exit 1; }
done
[ -e /usr/include/gssapi/gssapi.h ] || [ -e /usr/include/gssapi.h ] || { echo "e2e-setup: gssapi headers are missing: apt-get install libkrb5-dev" >&2; exit 1; }

CS="$CACHE/node_modules/.bin/code-server"
if [ -x "$CS" ] && "$CS" --version 2>/dev/null | grep -q "^$CS_VERSION "; then
  echo "e2e-setup: code-server $CS_VERSION is ready in $CACHE"
  exit 0
fi

echo "e2e-setup: installing code-server $CS_VERSION into $CACHE (a few minutes)"
mkdir -p "$CACHE"
cd "$CACHE"
[ -f package.json ] || echo '{"name":"livepatch-lens-e2e","private":true}' > package.json
# 1. The packages, without their install scripts (they download ripgrep and refuse root).
npm install --no-audit --no-fund --ignore-scripts "code-server@$CS_VERSION" >/dev/null
VS="$CACHE/node_modules/code-server/lib/vscode"
# 2. VS Code's own dependencies; Debian's ripgrep in place of the download; native modules built for this Node.
(cd "$VS" && npm install --no-audit --no-fund --omit=dev --ignore-scripts >/dev/null)
mkdir -p "$VS/node_modules/@vscode/ripgrep/bin"
cp /usr/bin/rg "$VS/node_modules/@vscode/ripgrep/bin/rg"
(cd "$VS" && npm_config_yes=true npm rebuild >/dev/null)
# 3. What code-server's postinstall.sh would have done.
ln -sfn node_modules "$VS/node_modules.asar"
(cd "$VS/bin/remote-cli" && ln -sf code-linux.sh code-server)
(cd "$VS/bin/helpers" && ln -sf browser-linux.sh browser.sh)
(cd "$VS/extensions" && npm install --no-audit --no-fund --omit=dev >/dev/null)
# 4. code-server's password hashing module.
npm rebuild argon2 >/dev/null
"$CS" --version | head -1
echo "e2e-setup: done"
