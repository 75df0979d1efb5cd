#!/usr/bin/env bash
# Package both Lambda functions into build/lambda/ (the template's CodeUri): the locked
# runtime dependencies as Linux x86_64 wheels for Python 3.11 (Lambda's python3.11 runtime
# runs on Amazon Linux 2, glibc 2.26), then the dataops package itself.
#
#   infra/build-lambda.sh
#   sam deploy --template-file infra/template.yaml --stack-name dataops-prod \
#     --capabilities CAPABILITY_IAM --resolve-s3
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/dev sync
out="$root/build/lambda"
rm -rf "$out"
mkdir -p "$out"
.tools/uv/bin/uv export --frozen --no-dev --extra aws --no-emit-project --no-hashes --quiet \
  -o "$out/requirements.txt"
.tools/uv/bin/pip install --quiet --disable-pip-version-check --target "$out" \
  --platform manylinux_2_26_x86_64 --platform manylinux2014_x86_64 \
  --implementation cp --python-version 3.11 --only-binary=:all: \
  -r "$out/requirements.txt"
cp -R src/dataops "$out/dataops"
find "$out" -name '__pycache__' -type d -prune -exec rm -rf {} +
echo "packaged into $out ($(du -sh "$out" | cut -f1))" >&2
