#!/usr/bin/env bash
# Deploys the same CDK stack to LocalStack with cdklocal (aws-cdk-local), writing the
# stack outputs to cdk.out/localstack-outputs.json for `npm run test:localstack`.
# Needs a LocalStack endpoint: docker compose -f localstack/docker-compose.yml up -d
set -euo pipefail
cd "$(dirname "$0")/.."
export AWS_ENDPOINT_URL="${AWS_ENDPOINT_URL:-http://localhost:4566}"
export AWS_REGION="${AWS_REGION:-us-east-1}" AWS_DEFAULT_REGION="${AWS_REGION:-us-east-1}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-test}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-test}"
if ! curl -fsS "$AWS_ENDPOINT_URL/_localstack/health" >/dev/null; then
  echo "localstack-deploy: no LocalStack answered at $AWS_ENDPOINT_URL (start it: docker compose -f localstack/docker-compose.yml up -d)" >&2
  exit 1
fi
mkdir -p cdk.out
npx cdklocal bootstrap aws://000000000000/"$AWS_REGION"
# LocalStack has no CloudWatch dashboards worth checking and no cdk-nag needs: keep the stack as deployed to AWS otherwise.
npx cdklocal deploy --require-approval never --outputs-file cdk.out/localstack-outputs.json \
  -c tidewatch:stackName=tidewatch-localstack -c tidewatch:tableRemovalPolicy=destroy "$@"
echo "localstack-deploy: outputs in cdk.out/localstack-outputs.json"
