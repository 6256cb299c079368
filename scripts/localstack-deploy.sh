#!/usr/bin/env bash
# Deploys the same CDK stack to LocalStack with cdklocal (aws-cdk-local), writing the
# stack outputs to cdk.out/localstack-outputs.json for `npm run test:localstack`.
# Needs a LocalStack endpoint: docker compose -f localstack/docker-compose.yml up -d
#
#   npm run localstack:deploy                         # cdklocal bootstrap, then cdklocal deploy
#   npm run localstack:deploy -- --skip-bootstrap     # deploy only (bootstrapped before)
#   npm run localstack:deploy -- <cdk deploy options> # passed on to cdklocal deploy
#
# Environment (all optional):
#   AWS_ENDPOINT_URL     LocalStack's endpoint (default http://localhost:4566)
#   AWS_ENDPOINT_URL_S3  its S3 endpoint (default: the same URL; the CDK CLI then
#                        addresses the asset bucket path-style, which needs no DNS)
#   AWS_REGION           the region to bootstrap and deploy (default us-east-1)
# cdklocal 3 with the CDK CLI >= 2.177 refuses AWS_ENDPOINT_URL without
# AWS_ENDPOINT_URL_S3, and removes every other AWS_* variable unless
# AWS_ENVAR_ALLOWLIST names it: the region is kept that way; credentials become
# test/test, LocalStack's account 000000000000, the one bootstrapped below.
set -euo pipefail
cd "$(dirname "$0")/.."

bootstrap=1
if [[ "${1:-}" == "--skip-bootstrap" ]]; then
  bootstrap=0
  shift
fi

export AWS_ENDPOINT_URL="${AWS_ENDPOINT_URL:-http://localhost:4566}"
export AWS_ENDPOINT_URL_S3="${AWS_ENDPOINT_URL_S3:-$AWS_ENDPOINT_URL}"
export AWS_REGION="${AWS_REGION:-${AWS_DEFAULT_REGION:-us-east-1}}"
export AWS_DEFAULT_REGION="$AWS_REGION"
export AWS_ENVAR_ALLOWLIST="${AWS_ENVAR_ALLOWLIST:+$AWS_ENVAR_ALLOWLIST,}AWS_REGION,AWS_DEFAULT_REGION"

# The health check with Node (already required) rather than curl, which not every image has.
if ! node -e 'fetch(process.argv[1], { signal: AbortSignal.timeout(5000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' \
  "$AWS_ENDPOINT_URL/_localstack/health"; then
  echo "localstack-deploy: no LocalStack answered at $AWS_ENDPOINT_URL (start it: docker compose -f localstack/docker-compose.yml up -d)" >&2
  exit 1
fi
echo "localstack-deploy: LocalStack at $AWS_ENDPOINT_URL (S3 $AWS_ENDPOINT_URL_S3), region $AWS_REGION"
mkdir -p cdk.out
if ((bootstrap)); then
  npx cdklocal bootstrap "aws://000000000000/$AWS_REGION"
fi
# LocalStack has no CloudWatch dashboards worth checking and no cdk-nag needs: keep the stack as deployed to AWS otherwise.
npx cdklocal deploy --require-approval never --outputs-file cdk.out/localstack-outputs.json \
  -c tidewatch:stackName=tidewatch-localstack -c tidewatch:tableRemovalPolicy=destroy "$@"
echo "localstack-deploy: outputs in cdk.out/localstack-outputs.json"
