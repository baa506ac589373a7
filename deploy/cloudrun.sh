#!/usr/bin/env bash
# Deploy the Wukong HTTP function to Google Cloud: Cloud Functions (gen2, from source) or Cloud
# Run (from the image deploy/Dockerfile builds). Secrets come from Secret Manager, never from the
# command line or the environment of this script.
set -euo pipefail

usage() {
  cat >&2 <<'USAGE'
usage: [VAR=value ...] deploy/cloudrun.sh

required:
  PROJECT                Google Cloud project id
  WUKONG_ALLOWED_REPOS   comma-separated clone URLs (or fnmatch patterns) Wukong may clone
optional:
  TARGET                 functions (default: gcloud functions deploy --gen2) | run (gcloud run deploy)
  REGION                 default europe-west1
  SERVICE                function / service name, default wukong
  IMAGE                  required for TARGET=run: the image of deploy/Dockerfile in Artifact
                         Registry or Docker Hub (Cloud Run pulls from nowhere else)
  WEBHOOK_SECRET_NAME    Secret Manager secret holding the webhook secret, default wukong-webhook-secret
  GIT_TOKEN_SECRET_NAME  Secret Manager secret holding the Git token, default wukong-git-token
  API_TOKEN_SECRET_NAME  optional: Secret Manager secret with WUKONG_API_TOKEN, the bearer token
                         CI sends to /render and /validate (required with a live cluster)
  WUKONG_GIT_USERNAME    HTTP user for the token, default x-access-token
  WUKONG_GIT_AUTHOR      commit author, default "Wukong <wukong@localhost>"
  WUKONG_CLUSTER         offline (default; Cloud Run rarely reaches a private API server)
  RUNTIME_SA             service account to run as (needs roles/secretmanager.secretAccessor)

Webhook senders (GitHub, GitLab, Gitea) cannot authenticate to Google, so the service allows
unauthenticated calls; every /webhook delivery is checked against WUKONG_WEBHOOK_SECRET.
USAGE
  exit 2
}

[[ "${1:-}" == "-h" || "${1:-}" == "--help" ]] && usage
[[ -n "${PROJECT:-}" && -n "${WUKONG_ALLOWED_REPOS:-}" ]] || usage

TARGET="${TARGET:-functions}"
REGION="${REGION:-europe-west1}"
SERVICE="${SERVICE:-wukong}"
WEBHOOK_SECRET_NAME="${WEBHOOK_SECRET_NAME:-wukong-webhook-secret}"
GIT_TOKEN_SECRET_NAME="${GIT_TOKEN_SECRET_NAME:-wukong-git-token}"
SOURCE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"  # main.py + requirements.txt

# A YAML env file, not --set-env-vars: WUKONG_ALLOWED_REPOS holds commas, which
# --set-env-vars would split on. Values are single-quoted YAML ('' escapes a quote).
yaml_quote() { printf "'%s'" "${1//\'/\'\'}"; }
env_file="$(mktemp)"
trap 'rm -f "$env_file"' EXIT
{
  echo "WUKONG_ALLOWED_REPOS: $(yaml_quote "$WUKONG_ALLOWED_REPOS")"
  echo "WUKONG_GIT_USERNAME: $(yaml_quote "${WUKONG_GIT_USERNAME:-x-access-token}")"
  echo "WUKONG_GIT_AUTHOR: $(yaml_quote "${WUKONG_GIT_AUTHOR:-Wukong <wukong@localhost>}")"
  echo "WUKONG_CLUSTER: $(yaml_quote "${WUKONG_CLUSTER:-offline}")"
} >"$env_file"

secrets="WUKONG_WEBHOOK_SECRET=${WEBHOOK_SECRET_NAME}:latest,WUKONG_GIT_TOKEN=${GIT_TOKEN_SECRET_NAME}:latest"
[[ -n "${API_TOKEN_SECRET_NAME:-}" ]] && secrets+=",WUKONG_API_TOKEN=${API_TOKEN_SECRET_NAME}:latest"

common=(
  --project="$PROJECT"
  --region="$REGION"
  --allow-unauthenticated
  --env-vars-file="$env_file"
  --set-secrets="$secrets"
  --memory=1Gi
  --timeout=300s  # a webhook answers after the push: clone, render, commit, push
)
[[ -n "${RUNTIME_SA:-}" ]] && common+=(--service-account="$RUNTIME_SA")

case "$TARGET" in
  functions)
    gcloud functions deploy "$SERVICE" --gen2 --runtime=python311 --source="$SOURCE_DIR" \
      --entry-point=wukong --trigger-http "${common[@]}"
    ;;
  run)
    [[ -n "${IMAGE:-}" ]] || usage
    gcloud run deploy "$SERVICE" --image="$IMAGE" --port=8080 "${common[@]}"
    ;;
  *)
    echo "TARGET must be functions or run, not '$TARGET'" >&2
    usage
    ;;
esac
