#!/usr/bin/env bash
# Deploy the Wukong HTTP function to Google Cloud: Cloud Functions (gen2, from source) or Cloud
# Run (from the image deploy/Dockerfile builds). Secrets come from Secret Manager, never from the
# command line or the environment of this script. One exception, PUSH_AUTH=token: the push
# token must be in the push endpoint's URL, which the subscription stores (readable with
# pubsub.subscriptions.get) and Cloud Run's own request log records (httpRequest.requestUrl
# holds the query); the app never logs it. So the default is PUSH_AUTH=oidc.
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
  STATUS_TOKEN_SECRET_NAME  optional: Secret Manager secret with WUKONG_STATUS_TOKEN, the token
                         for commit statuses (default: the Git token serves both)
  PRIVATE                1: no unauthenticated calls (a worker behind Pub/Sub; see the README)

queued deliveries (all optional; without WUKONG_QUEUE none of this runs):
  WUKONG_QUEUE           pubsub:projects/<project>/topics/<topic>: /webhook publishes, /pubsub
                         renders; creates the topic, a dead-letter topic with its subscription,
                         the push subscription and the IAM bindings they need
  PUSH_AUTH              oidc (default with one service): Pub/Sub sends an OIDC token of
                         PUSH_SERVICE_ACCOUNT, verified by the app (WUKONG_PUBSUB_AUDIENCE,
                         WUKONG_PUBSUB_SERVICE_ACCOUNT)
                         | token (default with WORKER_SERVICE, where Cloud Run's IAM checks the
                         OIDC token): the push endpoint carries ?token=<WUKONG_PUBSUB_TOKEN>,
                         which the subscription's config and Cloud Run's request log then show
  PUBSUB_TOKEN_SECRET_NAME  Secret Manager secret with the push token, default
                         wukong-pubsub-token (token mode; also maps it on a worker)
  PUSH_SERVICE_ACCOUNT   the service account Pub/Sub pushes as (required but in token mode
                         with one service). Whoever runs this script needs
                         iam.serviceAccounts.actAs on it (roles/iam.serviceAccountUser); in a
                         project that enabled Pub/Sub before 2021-04-08, Pub/Sub's service agent
                         also needs roles/iam.serviceAccountTokenCreator to sign its tokens
  PUSH_AUDIENCE          its tokens' audience; default wukong-pubsub/<PROJECT>/<SERVICE> (oidc),
                         the worker's URL (two services)
  PUSH_ENDPOINT          where Pub/Sub pushes, default <this service's URL>/pubsub; another
                         service's (two-service layout) with WORKER_SERVICE naming it, which
                         then grants PUSH_SERVICE_ACCOUNT roles/run.invoker on it
  ACK_DEADLINE           seconds, default 120 (a delivery is bounded at 60 s; at most 600):
                         for push delivery it is also the request's timeout
  MIN_RETRY_DELAY, MAX_RETRY_DELAY   redelivery backoff, default 10s and 600s
  MAX_DELIVERY_ATTEMPTS  then the dead-letter topic takes the message, default 5

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
[[ -n "${STATUS_TOKEN_SECRET_NAME:-}" ]] && secrets+=",WUKONG_STATUS_TOKEN=${STATUS_TOKEN_SECRET_NAME}:latest"

timeout=300s  # a webhook answers after the push: clone, render, commit, push
if [[ -n "${WUKONG_QUEUE:-}" ]]; then
  [[ "$WUKONG_QUEUE" =~ ^pubsub:projects/([^/]+)/topics/([^/]+)$ ]] || {
    echo "WUKONG_QUEUE must be pubsub:projects/<project>/topics/<topic>" >&2; usage; }
  TOPIC_PROJECT="${BASH_REMATCH[1]}"
  TOPIC="${BASH_REMATCH[2]}"
  if [[ -n "${WORKER_SERVICE:-}" ]]; then PUSH_AUTH="${PUSH_AUTH:-token}"; else PUSH_AUTH="${PUSH_AUTH:-oidc}"; fi
  ACK_DEADLINE="${ACK_DEADLINE:-120}"
  (( ACK_DEADLINE >= 10 && ACK_DEADLINE <= 600 )) || { echo "ACK_DEADLINE: 10 to 600" >&2; usage; }
  timeout="${ACK_DEADLINE}s"  # a push is answered once rendered: the ack deadline bounds it
  echo "WUKONG_QUEUE: $(yaml_quote "$WUKONG_QUEUE")" >>"$env_file"
  case "$PUSH_AUTH" in
    token)
      PUBSUB_TOKEN_SECRET_NAME="${PUBSUB_TOKEN_SECRET_NAME:-wukong-pubsub-token}"
      secrets+=",WUKONG_PUBSUB_TOKEN=${PUBSUB_TOKEN_SECRET_NAME}:latest"
      ;;
    oidc)
      [[ -n "${PUSH_SERVICE_ACCOUNT:-}" ]] || {
        echo "PUSH_AUTH=oidc (the default) needs PUSH_SERVICE_ACCOUNT, the service account Pub/Sub pushes as" >&2
        usage; }
      [[ -z "${WORKER_SERVICE:-}" ]] || {
        echo "PUSH_AUTH=oidc with WORKER_SERVICE: the worker's Cloud Run IAM checks the token; use PUSH_AUTH=token" >&2
        usage; }
      ;;
    *) echo "PUSH_AUTH must be token or oidc, not '$PUSH_AUTH'" >&2; usage ;;
  esac
fi
# A private worker (two-service layout) takes the push token without publishing anything.
if [[ -z "${WUKONG_QUEUE:-}" && -n "${PUBSUB_TOKEN_SECRET_NAME:-}" ]]; then
  secrets+=",WUKONG_PUBSUB_TOKEN=${PUBSUB_TOKEN_SECRET_NAME}:latest"
fi
if [[ -n "${WUKONG_QUEUE:-}" && "$PUSH_AUTH" == oidc ]]; then
  # In-app verification compares with whatever audience the subscription names: a fixed one
  # is known before the deploy (the service's URL is not).
  audience="${PUSH_AUDIENCE:-wukong-pubsub/${PROJECT}/${SERVICE}}"
  echo "WUKONG_PUBSUB_AUDIENCE: $(yaml_quote "$audience")" >>"$env_file"
  echo "WUKONG_PUBSUB_SERVICE_ACCOUNT: $(yaml_quote "$PUSH_SERVICE_ACCOUNT")" >>"$env_file"
fi

common=(
  --project="$PROJECT"
  --region="$REGION"
  --env-vars-file="$env_file"
  --set-secrets="$secrets"
  --memory=1Gi
  --timeout="$timeout"
)
if [[ "${PRIVATE:-}" == 1 ]]; then
  common+=(--no-allow-unauthenticated)
else
  common+=(--allow-unauthenticated)
fi
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

[[ -n "${WUKONG_QUEUE:-}" ]] || exit 0

# --- queued deliveries: topic, dead letters, push subscription, IAM ---------------------------
ps=(--project="$TOPIC_PROJECT")
if [[ -z "${PUSH_ENDPOINT:-}" ]]; then
  if [[ "$TARGET" == run ]]; then
    url="$(gcloud run services describe "$SERVICE" --project="$PROJECT" --region="$REGION" --format='value(status.url)')"
  else
    url="$(gcloud functions describe "$SERVICE" --gen2 --project="$PROJECT" --region="$REGION" --format='value(serviceConfig.uri)')"
  fi
  PUSH_ENDPOINT="${url%/}/pubsub"
fi
project_number="$(gcloud projects describe "$TOPIC_PROJECT" --format='value(projectNumber)')"
pubsub_agent="serviceAccount:service-${project_number}@gcp-sa-pubsub.iam.gserviceaccount.com"
dead="${TOPIC}-dead-letter"
subscription="${TOPIC}-push"

# create, or (run again) leave the topic as it is
gcloud pubsub topics describe "$TOPIC" "${ps[@]}" >/dev/null 2>&1 || gcloud pubsub topics create "$TOPIC" "${ps[@]}"
gcloud pubsub topics describe "$dead" "${ps[@]}" >/dev/null 2>&1 || gcloud pubsub topics create "$dead" "${ps[@]}"
# Messages published to a topic without a subscription are lost: keep the dead letters.
gcloud pubsub subscriptions describe "${dead}-sub" "${ps[@]}" >/dev/null 2>&1 ||
  gcloud pubsub subscriptions create "${dead}-sub" --topic="$dead" "${ps[@]}"

if [[ "$PUSH_AUTH" == token ]]; then
  # Through a flags file, not the command line: no process listing shows the token.
  token="$(gcloud secrets versions access latest --secret="$PUBSUB_TOKEN_SECRET_NAME" --project="$PROJECT")"
  push_file="$(mktemp)"
  trap 'rm -f "$env_file" "$push_file"' EXIT
  echo "--push-endpoint: $(yaml_quote "${PUSH_ENDPOINT}?token=${token}")" >"$push_file"
  push=(--flags-file="$push_file")
  if [[ -n "${PUSH_SERVICE_ACCOUNT:-}" ]]; then  # a private worker: Cloud Run's IAM checks it
    [[ "$PUSH_ENDPOINT" =~ ^(https://[^/]+) ]]
    push+=(--push-auth-service-account="$PUSH_SERVICE_ACCOUNT"
           --push-auth-token-audience="${PUSH_AUDIENCE:-${BASH_REMATCH[1]}}")
  fi
else
  push=(--push-endpoint="$PUSH_ENDPOINT" --push-auth-service-account="$PUSH_SERVICE_ACCOUNT"
        --push-auth-token-audience="$audience")
fi
settings=(
  "${push[@]}"
  --ack-deadline="$ACK_DEADLINE"
  --dead-letter-topic="$dead"
  --max-delivery-attempts="${MAX_DELIVERY_ATTEMPTS:-5}"
  --min-retry-delay="${MIN_RETRY_DELAY:-10s}"
  --max-retry-delay="${MAX_RETRY_DELAY:-600s}"
)
if gcloud pubsub subscriptions describe "$subscription" "${ps[@]}" >/dev/null 2>&1; then
  gcloud pubsub subscriptions update "$subscription" "${settings[@]}" "${ps[@]}"
else
  # Ordering can only be chosen when the subscription is made.
  gcloud pubsub subscriptions create "$subscription" --topic="$TOPIC" --enable-message-ordering \
    "${settings[@]}" "${ps[@]}"
fi

# Pub/Sub's service agent forwards dead letters: it publishes to the dead-letter topic and
# acknowledges on the push subscription.
gcloud pubsub topics add-iam-policy-binding "$dead" --member="$pubsub_agent" \
  --role=roles/pubsub.publisher "${ps[@]}"
gcloud pubsub subscriptions add-iam-policy-binding "$subscription" --member="$pubsub_agent" \
  --role=roles/pubsub.subscriber "${ps[@]}"
if [[ -n "${RUNTIME_SA:-}" ]]; then  # the webhook publishes (the default account may already)
  gcloud pubsub topics add-iam-policy-binding "$TOPIC" --member="serviceAccount:$RUNTIME_SA" \
    --role=roles/pubsub.publisher "${ps[@]}"
fi
if [[ -n "${WORKER_SERVICE:-}" ]]; then  # two services: only Pub/Sub may call the worker
  gcloud run services add-iam-policy-binding "$WORKER_SERVICE" --project="$PROJECT" \
    --region="$REGION" --member="serviceAccount:$PUSH_SERVICE_ACCOUNT" --role=roles/run.invoker
fi
echo "queued deliveries: $WUKONG_QUEUE -> ${PUSH_ENDPOINT} (${PUSH_AUTH})" >&2
