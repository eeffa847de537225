#!/usr/bin/env bash
# Man pages from the command tree (swift-argument-parser's generate-manual), one per command, with
# the exit statuses every command uses in place of the generator's generic "0 on success".
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p docs/man
rm -f docs/man/*.1  # pages of commands that no longer exist go too
swift package --allow-writing-to-package-directory generate-manual --multi-page \
  --output-directory docs/man --authors "the otptoken developers"
statuses='.Bl -tag -width 2n\
.It 0\
Success: done, or the code or login was accepted.\
.It 1\
Refused: a wrong, replayed or throttled code, a conflict, or a question answered no.\
.It 2\
Bad usage or input: an unknown option, a malformed code, a destructive step without --force.\
.It 3\
The environment failed: no device, permission denied, the database unreachable or locked.\
.El'
for page in docs/man/*.1; do
  sed -i "s/^\.Ex -std$/$statuses/" "$page"
done
